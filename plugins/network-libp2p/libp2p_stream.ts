/**
 * A libp2p stream as the core's `DuplexStream`, with backpressure in both
 * directions. js-libp2p's own async iterator buffers without bound and yamux
 * grants window as soon as data arrives, so a slow reader would let the remote
 * flood memory: this adapter pauses the stream (no more window updates) once
 * it holds `READ_HIGH_WATER_BYTES` unread, and resumes below the low mark.
 *
 * Received data is handed on as libp2p delivers it, without copying: a yamux frame that
 * spans several noise messages arrives as a list of buffers, and each becomes one chunk.
 *
 * A stream opened with lazy select (`lazy_select.ts`) sends the protocol negotiation with its
 * first write and strips the listener's answer off the front of what it reads.
 *
 * @module
 */
import type { Stream } from "@libp2p/interface";
import { type DuplexStream, StreamError } from "../../core/ports/stream_opener.ts";
import { READ_HIGH_WATER_BYTES, READ_LOW_WATER_BYTES } from "./constants.ts";
import { LazySelectReply, lazySelectRequest } from "./lazy_select.ts";

type Waiter = { resolve: (chunk: Uint8Array | null) => void; reject: (error: Error) => void };

/** What libp2p hands a `message` listener: one buffer, or a list of them (a Uint8ArrayList). */
type Received = Uint8Array | (Iterable<Uint8Array> & { subarray(): Uint8Array });

/** How an adapter is set up. */
export interface Libp2pDuplexStreamOptions {
  /**
   * Whether the stream's connection is still up: an end of stream without
   * the remote's FIN while the connection is gone means the peer died
   * mid-stream, which is an error, not an EOF.
   */
  readonly connectionOpen?: () => boolean;
  /**
   * The protocol this (outbound, not yet negotiated) stream selects lazily: the negotiation goes
   * out with the first write, its answer is read before the first chunk.
   */
  readonly lazyProtocol?: string;
}

/** Wraps an open libp2p stream. */
export class Libp2pDuplexStream implements DuplexStream {
  readonly #stream: Stream;
  readonly #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #ended = false;
  #error: Error | undefined;
  #waiter: Waiter | undefined;
  #resuming = false;
  #remoteClosedWrite = false;
  /** Lazy select: the negotiation still to send, and the reader of its answer. */
  #selectRequest: Uint8Array | undefined;
  #selectReply: LazySelectReply | undefined;
  /** Settles with the listener's answer; later writes and the FIN wait for it (see `write`). */
  #selected: PromiseWithResolvers<void> | undefined;

  readonly #connectionOpen: () => boolean;

  /** Wraps `stream`; see {@link Libp2pDuplexStreamOptions}. */
  constructor(stream: Stream, options: Libp2pDuplexStreamOptions = {}) {
    this.#stream = stream;
    this.#connectionOpen = options.connectionOpen ?? (() => true);
    if (options.lazyProtocol !== undefined) {
      this.#selectRequest = lazySelectRequest(options.lazyProtocol);
      this.#selectReply = new LazySelectReply(options.lazyProtocol);
      this.#selected = Promise.withResolvers();
      this.#selected.promise.catch(() => {}); // Reported by the read or write that waits.
    }
    stream.addEventListener("message", (event) => this.#onData(event.data));
    // A remote that closes its write side says so (FIN) before the stream ends; an end
    // without it means the connection died (the exit was killed): an error, not EOF.
    stream.addEventListener("remoteCloseWrite", () => (this.#remoteClosedWrite = true));
    stream.addEventListener("end", () => this.#onEnd());
    stream.addEventListener("close", (event) => {
      const error = (event as { error?: Error }).error;
      if (error) this.#fail(error);
      else this.#onEnd();
    });
    if (stream.remoteWriteStatus === "closed") {
      // The remote wrote and closed during protocol negotiation: libp2p fired its one `end`
      // before we listened. End after the buffered bytes, whose hand-over was queued first.
      this.#remoteClosedWrite = true;
      queueMicrotask(() => this.#onEnd());
    }
  }

  /** The underlying libp2p stream (for its protocol and id in logs). */
  get raw(): Stream {
    return this.#stream;
  }

  read(): Promise<Uint8Array | null> {
    // A lazy stream read before it wrote: the listener answers nothing until it sees the request.
    if (this.#selectRequest) this.#sendSelectRequest(new Uint8Array(0));
    const chunk = this.#queue.shift();
    if (chunk !== undefined) {
      this.#queuedBytes -= chunk.byteLength;
      this.#maybeResume();
      return Promise.resolve(chunk);
    }
    if (this.#error) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  readInto(buffer: Uint8Array): Promise<number | null> {
    if (this.#queue.length > 0 && !this.#selectRequest) {
      return Promise.resolve(this.#copyQueued(buffer, 0));
    }
    return this.read().then((chunk) => {
      if (chunk === null) return null;
      const n = Math.min(chunk.byteLength, buffer.byteLength);
      buffer.set(n === chunk.byteLength ? chunk : chunk.subarray(0, n));
      if (n < chunk.byteLength) {
        this.#queue.unshift(chunk.subarray(n));
        this.#queuedBytes += chunk.byteLength - n;
      }
      return this.#copyQueued(buffer, n);
    });
  }

  /** Moves queued bytes into `buffer` from `offset` on; resolves the new fill level. */
  #copyQueued(buffer: Uint8Array, offset: number): number {
    const queue = this.#queue;
    while (offset < buffer.byteLength && queue.length > 0) {
      const head = queue[0]!;
      const n = Math.min(head.byteLength, buffer.byteLength - offset);
      if (n === head.byteLength) {
        buffer.set(head, offset);
        queue.shift();
      } else {
        buffer.set(head.subarray(0, n), offset);
        queue[0] = head.subarray(n);
      }
      this.#queuedBytes -= n;
      offset += n;
    }
    this.#maybeResume();
    return offset;
  }

  /**
   * A lazy stream's first write goes out with the negotiation at once; later writes and
   * `closeWrite` wait for the listener's answer: js-libp2p's listener resets a stream whose
   * FIN arrives while it still negotiates, and buffers what comes meanwhile without backpressure.
   */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.#error) throw this.#error;
    if (this.#selectRequest) {
      if (!this.#sendSelectRequest(chunk)) await this.#drained();
      return;
    }
    if (this.#selectReply) await this.#selected!.promise;
    if (!this.#stream.send(chunk)) await this.#drained();
  }

  /** Sends the lazy negotiation and `chunk` as one message (one yamux frame). */
  #sendSelectRequest(chunk: Uint8Array): boolean {
    const request = this.#selectRequest!;
    this.#selectRequest = undefined;
    const message = new Uint8Array(request.byteLength + chunk.byteLength);
    message.set(request);
    message.set(chunk, request.byteLength);
    return this.#stream.send(message);
  }

  /**
   * Waits for the stream's next `drain` event (or its close). Not
   * `stream.onDrain()`: @libp2p/utils 7.4 keeps the first drain promise after
   * it resolved, so every later call returns at once and a fast source fills
   * the write buffer without bound (hundreds of MB per session).
   */
  #drained(): Promise<void> {
    const stream = this.#stream;
    if (!stream.writableNeedsDrain) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onDrain = () => {
        cleanup();
        resolve();
      };
      const onClose = (event: Event) => {
        cleanup();
        reject(
          (event as { error?: Error }).error ?? this.#error ??
            new Error("The stream closed while a write waited for it to drain."),
        );
      };
      const cleanup = () => {
        stream.removeEventListener("drain", onDrain);
        stream.removeEventListener("close", onClose);
      };
      stream.addEventListener("drain", onDrain);
      stream.addEventListener("close", onClose);
    });
  }

  async closeWrite(): Promise<void> {
    if (this.#error) throw this.#error;
    if (this.#selectRequest) this.#sendSelectRequest(new Uint8Array(0));
    if (this.#selectReply) await this.#selected!.promise;
    await this.#stream.close();
  }

  abort(reason?: Error): void {
    this.#stream.abort(reason ?? new Error("The session was closed."));
    this.#fail(reason ?? new Error("The stream was aborted."));
  }

  #onData(data: Received): void {
    if (this.#error) return;
    if (this.#selectReply) {
      const rest = this.#readSelectReply(data instanceof Uint8Array ? data : data.subarray());
      if (rest === undefined || rest.byteLength === 0) return;
      data = rest;
    }
    if (data instanceof Uint8Array) this.#take(data);
    else for (const piece of data) this.#take(piece);
    if (!this.#resuming) this.#maybePause();
  }

  /** The bytes after the lazy negotiation's answer, or undefined while it is incomplete or bad. */
  #readSelectReply(bytes: Uint8Array): Uint8Array | undefined {
    try {
      const rest = this.#selectReply!.push(bytes);
      if (rest !== undefined) {
        this.#selectReply = undefined;
        this.#selected!.resolve();
      }
      return rest;
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      // Failed first: aborting ends the stream at once, which must not read as an early end.
      this.#fail(failure);
      this.#stream.abort(failure);
      return undefined;
    }
  }

  /** Hands `chunk` to a waiting read, or queues it. */
  #take(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter.resolve(chunk);
      return;
    }
    this.#queue.push(chunk);
    this.#queuedBytes += chunk.byteLength;
  }

  #maybePause(): void {
    if (this.#queuedBytes > READ_HIGH_WATER_BYTES && this.#stream.readStatus === "readable") {
      this.#stream.pause();
    }
  }

  #maybeResume(): void {
    if (this.#queuedBytes > READ_LOW_WATER_BYTES || this.#stream.readStatus !== "paused") return;
    // resume() first hands us what libp2p buffered while paused (re-entering #onData) and only
    // then lets yamux grant window again: a pause() from inside it would be undone, leaving the
    // stream "paused" with the window open, and libp2p resets it once its buffer passes
    // MAX_READ_BUFFER_BYTES. So the high-water check runs after resume() returns.
    this.#resuming = true;
    try {
      this.#stream.resume();
    } finally {
      this.#resuming = false;
    }
    this.#maybePause();
  }

  #onEnd(): void {
    if (this.#ended || this.#error) return;
    // A reset ends libp2p's readable side before the reset is reported: it is no EOF.
    if (this.#stream.status === "reset") {
      this.#fail(new Error("The peer reset the stream."));
      return;
    }
    if (this.#selectReply) {
      this.#fail(
        new StreamError(
          "io",
          "The peer ended the stream before answering the protocol negotiation.",
        ),
      );
      return;
    }
    // The FIN may have come before this adapter listened; only a dead connection is a failure.
    if (!this.#remoteClosedWrite && !this.#connectionOpen()) {
      this.#fail(new Error("The connection to the peer was lost before it finished sending."));
      return;
    }
    this.#ended = true;
    const waiter = this.#waiter;
    if (waiter && this.#queue.length === 0) {
      this.#waiter = undefined;
      waiter.resolve(null);
    }
  }

  #fail(error: Error): void {
    if (this.#error) return;
    this.#error = error;
    this.#selected?.reject(error);
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter.reject(error);
    }
  }
}
