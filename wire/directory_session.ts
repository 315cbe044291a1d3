/**
 * The caller's side of `/p2proxy/directory/1.1.0` (docs/wire-protocols.md#directory-protocol):
 * one long-lived stream to a hub carrying many requests, each a length-prefixed
 * `DirectoryRequest`, answered in order with one length-prefixed `DirectoryResponse`
 * each. Requests are pipelined: up to {@link MAX_PIPELINED_REQUESTS} wait for their answer
 * at once on one stream; more wait for a slot (within their deadline).
 *
 * Why: opening a stream costs the hub a protocol negotiation per request, several times the
 * work of answering it (docs/hub-behaviour.md#hub-scale). A session pays it once.
 *
 * A session ends when the hub closes or resets it (it closes idle ones after
 * {@link DIRECTORY_SESSION_IDLE_MS}), on a frame error, or when a caller's deadline passes
 * (the answers are ordered: one that never comes would hold every later one). Requests
 * waiting on an ended session fail with {@link SessionEnded}; they are idempotent, so the
 * client retries them once on a new session.
 *
 * @module
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { encodeFrame, FrameDecoder } from "../core/codec/frame.ts";
import { describeError, P2proxyError } from "../core/errors.ts";
import type { DuplexStream } from "../core/ports/stream_opener.ts";
import {
  type DirectoryRequest,
  DirectoryRequestSchema,
  type DirectoryResponse,
  DirectoryResponseSchema,
} from "../proto/gen/p2proxy/directory/v1/directory_pb.ts";
import { MAX_PIPELINED_REQUESTS } from "./directory_protocol.ts";

/** A session that ended before the request's answer arrived; the request may be retried. */
export class SessionEnded extends P2proxyError<"session-ended"> {}

interface Waiter {
  readonly resolve: (frame: Uint8Array) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * One directory session on an open stream (the caller opened it with
 * `/p2proxy/directory/1.1.0`).
 *
 * @example
 * ```ts ignore
 * const stream = await network.open(hub, { protocol: DIRECTORY_SESSION_PROTOCOL, timeoutMs, maxConcurrent: 8 });
 * const session = new DirectorySession(stream);
 * const answer = await session.ask(request, AbortSignal.timeout(10_000));
 * session.close();
 * ```
 */
export class DirectorySession {
  readonly #stream: DuplexStream;
  readonly #decoder = new FrameDecoder();
  /** Callers whose request was sent, oldest first: the next answer is the head's. */
  readonly #answers: Waiter[] = [];
  /** Callers waiting for one of the pipeline's slots. */
  readonly #slots: Array<() => void> = [];
  #writes: Promise<void> = Promise.resolve();
  #ended: Error | undefined;

  /** Starts reading answers from `stream`; the session owns it from now on. */
  constructor(stream: DuplexStream) {
    this.#stream = stream;
    void this.#readAnswers();
  }

  /** True once the session can take no more requests. */
  get ended(): boolean {
    return this.#ended !== undefined;
  }

  /** Requests sent and not yet answered. */
  get pending(): number {
    return this.#answers.length;
  }

  /**
   * Sends `request` and resolves its answer. Rejects with {@link SessionEnded} when the
   * session ended first, with `signal`'s reason when it aborted (which also ends the session:
   * see the module doc), or with a decode error for an unreadable answer.
   */
  async ask(request: DirectoryRequest, signal: AbortSignal): Promise<DirectoryResponse> {
    signal.throwIfAborted();
    const frame = encodeFrame(toBinary(DirectoryRequestSchema, request));
    // The check and the push below run with no await between them: concurrent callers cannot
    // all see a free slot.
    while (!this.#ended && this.#answers.length >= MAX_PIPELINED_REQUESTS) {
      await this.#slotFreed(signal);
    }
    if (this.#ended) throw this.#endedError();
    const answer = Promise.withResolvers<Uint8Array>();
    this.#answers.push({ resolve: answer.resolve, reject: answer.reject });
    // Written in the order the answers are awaited (the hub answers in request order).
    this.#writes = this.#writes.then(() => this.#stream.write(frame)).catch((error) => {
      this.#end(new SessionEnded("session-ended", `Sending failed: ${describeError(error)}`));
    });
    const onAbort = () => this.#end(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      return fromBinary(DirectoryResponseSchema, await answer.promise);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** Ends the session: pending requests fail with {@link SessionEnded}; the stream is reset. */
  close(): void {
    this.#end(new SessionEnded("session-ended", "The directory session was closed."));
  }

  /** Waits (bounded by `signal`) until an answer frees a slot or the session ends. */
  async #slotFreed(signal: AbortSignal): Promise<void> {
    const freed = Promise.withResolvers<void>();
    const onAbort = () => freed.reject(signal.reason);
    this.#slots.push(freed.resolve);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await freed.promise;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  async #readAnswers(): Promise<void> {
    try {
      for (;;) {
        const chunk = await this.#stream.read();
        if (chunk === null) {
          this.#end(new SessionEnded("session-ended", "The hub closed the directory session."));
          return;
        }
        this.#decoder.append(chunk);
        for (let frame = this.#decoder.nextFrame(); frame; frame = this.#decoder.nextFrame()) {
          const waiter = this.#answers.shift();
          if (!waiter) {
            throw new SessionEnded("session-ended", "The hub sent an answer nobody asked for.");
          }
          waiter.resolve(frame);
          this.#slots.shift()?.();
        }
      }
    } catch (error) {
      this.#end(
        error instanceof SessionEnded
          ? error
          : new SessionEnded("session-ended", `The session broke: ${describeError(error)}`, {
            cause: error,
          }),
      );
    }
  }

  #endedError(): SessionEnded {
    const reason = this.#ended;
    return reason instanceof SessionEnded
      ? reason
      : new SessionEnded("session-ended", describeError(reason), { cause: reason });
  }

  /** Fails every pending request with `reason` (a caller's abort reason goes to that caller). */
  #end(reason: unknown): void {
    if (this.#ended) return;
    this.#ended = reason instanceof Error ? reason : new Error(String(reason));
    this.#stream.abort(reason instanceof Error ? reason : undefined);
    const ended = this.#endedError();
    for (const waiter of this.#answers.splice(0)) waiter.reject(ended);
    for (const wake of this.#slots.splice(0)) wake();
  }
}
