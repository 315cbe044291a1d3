/**
 * A bounded, ordered queue of datagrams toward one writer (a stream or a socket): `offer` never
 * waits; it refuses a datagram when the bytes already waiting would pass the bound, so a slow
 * stream drops datagrams (as UDP may) instead of growing memory (docs/proxy-behaviour.md#udp-associate).
 *
 * @example
 * ```ts
 * const queue = new DatagramQueue((frame) => stream.write(frame), 256 * 1024);
 * if (!queue.offer(frame)) dropped++;
 * ```
 *
 * @module
 */

/** Writes queued datagrams one at a time, in order, with at most `maxBufferedBytes` waiting. */
export class DatagramQueue {
  readonly #write: (datagram: Uint8Array) => Promise<unknown>;
  readonly #maxBufferedBytes: number;
  readonly #pending: Uint8Array[] = [];
  #bufferedBytes = 0;
  #pumping = false;
  #failure: unknown;
  #closed = false;

  /** A queue over `write`; a rejected write fails the queue (see {@link failure}). */
  constructor(write: (datagram: Uint8Array) => Promise<unknown>, maxBufferedBytes: number) {
    this.#write = write;
    this.#maxBufferedBytes = maxBufferedBytes;
  }

  /** Bytes accepted and not yet written. */
  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  /** The error of the write that failed, once one has. */
  get failure(): unknown {
    return this.#failure;
  }

  /** Queues `datagram`; false (dropped) when it does not fit, or the queue failed or closed. */
  offer(datagram: Uint8Array): boolean {
    if (this.#closed || this.#failure !== undefined) return false;
    if (this.#bufferedBytes + datagram.byteLength > this.#maxBufferedBytes) return false;
    this.#pending.push(datagram);
    this.#bufferedBytes += datagram.byteLength;
    if (!this.#pumping) void this.#pump();
    return true;
  }

  /** Drops what waits and accepts nothing more. */
  close(): void {
    this.#closed = true;
    this.#pending.length = 0;
    this.#bufferedBytes = 0;
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (this.#pending.length > 0 && !this.#closed) {
        const datagram = this.#pending.shift()!;
        try {
          await this.#write(datagram);
        } catch (error) {
          this.#failure = error ?? new Error("write failed");
          this.close();
          return;
        } finally {
          if (!this.#closed) this.#bufferedBytes -= datagram.byteLength;
        }
      }
    } finally {
      this.#pumping = false;
    }
  }
}
