/**
 * A stream that counts what it moves and, when a rate limit says so, waits before handing on the
 * next chunk (docs/limits.md#rate). The relay (wire/relay.ts) awaits every read and write, so a
 * wait here is backpressure: no more is read from the other side until it ends, and nothing is
 * buffered beyond the chunk in hand. No timer runs unless a limit is over its rate.
 *
 * @module
 */
import type { DuplexStream } from "../core/ports/stream_opener.ts";

/** The two ways bytes cross a stream: written to it, or read from it. */
export type StreamDirection = "write" | "read";

/** What a metered stream reports to, per chunk (cheap: the hot path). */
export interface StreamMeter {
  /**
   * `bytes` moved in `direction`; answers how many milliseconds to wait before handing the chunk
   * on (0: at once).
   */
  moved(direction: StreamDirection, bytes: number): number;
  /** The stream ended (both ways done, or reset); called once. */
  ended(): void;
}

/**
 * Wraps `inner` so every chunk is reported to `meter` and delayed as it answers; `meter.ended`
 * runs once both directions are done (end of stream read and write side closed) or on a reset.
 *
 * @example
 * ```ts
 * const limited = meteredStream(stream, {
 *   moved: (direction, bytes) => bucket.take(bytes, Date.now()),
 *   ended: () => lease.release(),
 * });
 * ```
 */
export function meteredStream(inner: DuplexStream, meter: StreamMeter): DuplexStream {
  return new MeteredStream(inner, meter);
}

class MeteredStream implements DuplexStream {
  readonly #inner: DuplexStream;
  readonly #meter: StreamMeter;
  readonly #abort = new AbortController();
  #readDone = false;
  #writeDone = false;
  #ended = false;
  readInto?: (buffer: Uint8Array) => Promise<number | null>;
  readonly writeCopies?: boolean;

  constructor(inner: DuplexStream, meter: StreamMeter) {
    if (inner.writeCopies) this.writeCopies = true;
    this.#inner = inner;
    this.#meter = meter;
    if (inner.readInto) {
      const readInto = inner.readInto.bind(inner);
      this.readInto = async (buffer) => {
        const n = await this.#settle(readInto(buffer));
        if (n === null) return this.#readEnded();
        await this.#delay(this.#meter.moved("read", n));
        return n;
      };
    }
  }

  async read(): Promise<Uint8Array | null> {
    const chunk = await this.#settle(this.#inner.read());
    if (chunk === null) return this.#readEnded();
    await this.#delay(this.#meter.moved("read", chunk.byteLength));
    return chunk;
  }

  async write(chunk: Uint8Array): Promise<void> {
    await this.#delay(this.#meter.moved("write", chunk.byteLength));
    await this.#inner.write(chunk);
  }

  async closeWrite(): Promise<void> {
    try {
      await this.#inner.closeWrite();
    } finally {
      this.#writeDone = true;
      if (this.#readDone) this.#end();
    }
  }

  abort(reason?: Error): void {
    this.#abort.abort(reason ?? new Error("The stream was reset."));
    this.#inner.abort(reason);
    this.#end();
  }

  /** A read that rejects ends the reading side too (the stream was reset). */
  async #settle<T>(pending: Promise<T>): Promise<T> {
    try {
      return await pending;
    } catch (error) {
      this.#readDone = true;
      this.#end();
      throw error;
    }
  }

  #readEnded(): null {
    this.#readDone = true;
    if (this.#writeDone) this.#end();
    return null;
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#meter.ended();
  }

  /** Waits `ms` (none when 0), cut short by a reset, which rejects. */
  #delay(ms: number): Promise<void> | void {
    if (ms <= 0) return;
    const signal = this.#abort.signal;
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal.reason);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }
}
