/**
 * In-memory byte pipes for tests of the data plane without sockets: a pair of client
 * connections (the shape a listener hands a door) and a pair of duplex streams (the shape a
 * stream opener hands the proxy). What one end writes, the other reads; half-close, close and
 * reset behave as their ports say. Pure: no timers, no I/O.
 *
 * @module
 */
import type { ClientConnection } from "../ports/inbound.ts";
import type { DuplexStream } from "../ports/stream_opener.ts";

/** One direction of a pipe: chunks in order, then an end (or a reset). */
class Direction {
  readonly #chunks: Uint8Array[] = [];
  #ended = false;
  #reset: Error | undefined;
  #wake: (() => void) | undefined;

  /** True once the writer half-closed or the pipe was closed. */
  get ended(): boolean {
    return this.#ended || this.#reset !== undefined;
  }

  push(chunk: Uint8Array): void {
    if (this.ended) throw this.#reset ?? new Error("The other end closed this direction.");
    this.#chunks.push(chunk.slice());
    this.#notify();
  }

  end(): void {
    this.#ended = true;
    this.#notify();
  }

  reset(reason: Error): void {
    this.#reset ??= reason;
    this.#chunks.length = 0;
    this.#notify();
  }

  /** The next chunk (at most `max` bytes of it), or null at the end; rejects after a reset. */
  async take(max = Infinity): Promise<Uint8Array | null> {
    while (this.#chunks.length === 0) {
      if (this.#reset) throw this.#reset;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    const head = this.#chunks[0]!;
    if (head.byteLength <= max) {
      this.#chunks.shift();
      return head;
    }
    this.#chunks[0] = head.subarray(max);
    return head.subarray(0, max);
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/**
 * Two connected client connections: `[client, server]`. `close()` on either end ends both
 * directions (a pending read on either side returns null); a write into a direction whose
 * reader closed rejects, as a reset socket does.
 *
 * @example
 * ```ts
 * const [client, server] = memoryConnectionPair();
 * await client.write(new TextEncoder().encode("hi"));
 * await server.read(new Uint8Array(16)); // 2
 * ```
 */
export function memoryConnectionPair(): [ClientConnection, ClientConnection] {
  const toServer = new Direction();
  const toClient = new Direction();
  const end = (incoming: Direction, outgoing: Direction): ClientConnection => ({
    async read(buffer) {
      const chunk = await incoming.take(buffer.byteLength);
      if (chunk === null) return null;
      buffer.set(chunk);
      return chunk.byteLength;
    },
    write(chunk) {
      try {
        outgoing.push(chunk);
        return Promise.resolve(chunk.byteLength);
      } catch (error) {
        return Promise.reject(error);
      }
    },
    closeWrite() {
      outgoing.end();
      return Promise.resolve();
    },
    close() {
      incoming.end();
      outgoing.end();
    },
  });
  return [end(toClient, toServer), end(toServer, toClient)];
}

/**
 * Two connected duplex streams: `[local, remote]`. `abort()` on either end resets both
 * directions: pending and later reads reject with the reason, as a reset yamux stream does.
 *
 * @example
 * ```ts
 * const [proxySide, exitSide] = memoryStreamPair();
 * await proxySide.write(new Uint8Array([1]));
 * await exitSide.read(); // Uint8Array [1]
 * ```
 */
export function memoryStreamPair(): [DuplexStream, DuplexStream] {
  const forward = new Direction();
  const backward = new Direction();
  const end = (incoming: Direction, outgoing: Direction): DuplexStream => ({
    read: () => incoming.take(),
    write(chunk) {
      try {
        outgoing.push(chunk);
        return Promise.resolve();
      } catch (error) {
        return Promise.reject(error);
      }
    },
    closeWrite() {
      outgoing.end();
      return Promise.resolve();
    },
    abort(reason) {
      const error = reason ?? new Error("The stream was reset.");
      incoming.reset(error);
      outgoing.reset(error);
    },
  });
  return [end(backward, forward), end(forward, backward)];
}
