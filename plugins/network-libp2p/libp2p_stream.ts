/**
 * A libp2p stream as the core's `DuplexStream`, with backpressure in both
 * directions. js-libp2p's own async iterator buffers without bound and yamux
 * grants window as soon as data arrives, so a slow reader would let the remote
 * flood memory: this adapter pauses the stream (no more window updates) once
 * it holds `READ_HIGH_WATER_BYTES` unread, and resumes below the low mark.
 *
 * @module
 */
import type { Stream } from "@libp2p/interface";
import type { DuplexStream } from "../../core/ports/stream_opener.ts";
import { READ_HIGH_WATER_BYTES, READ_LOW_WATER_BYTES } from "./constants.ts";

type Waiter = { resolve: (chunk: Uint8Array | null) => void; reject: (error: Error) => void };

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

  readonly #connectionOpen: () => boolean;

  /**
   * `connectionOpen` tells whether the stream's connection is still up: an
   * end of stream without the remote's FIN while the connection is gone
   * means the peer died mid-stream, which is an error, not an EOF.
   */
  constructor(stream: Stream, connectionOpen: () => boolean = () => true) {
    this.#stream = stream;
    this.#connectionOpen = connectionOpen;
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

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#error) throw this.#error;
    if (!this.#stream.send(chunk)) await this.#drained();
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
    await this.#stream.close();
  }

  abort(reason?: Error): void {
    this.#stream.abort(reason ?? new Error("The session was closed."));
    this.#fail(reason ?? new Error("The stream was aborted."));
  }

  #onData(data: Uint8Array | { subarray(): Uint8Array }): void {
    const chunk = data instanceof Uint8Array ? data : data.subarray();
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter.resolve(chunk);
      return;
    }
    this.#queue.push(chunk);
    this.#queuedBytes += chunk.byteLength;
    if (!this.#resuming) this.#maybePause();
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
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter.reject(error);
    }
  }
}
