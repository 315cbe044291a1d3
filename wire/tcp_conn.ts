/**
 * The TCP side of a relay: what the relay needs of a socket. `Deno.Conn`
 * fits as it is; a `node:net` socket (needed for `bind_address`, which
 * `Deno.connect` cannot set) is adapted by `fromNodeSocket`.
 *
 * @module
 */
import type { Socket } from "node:net";

/** A byte connection with half-close. */
export interface TcpConn {
  /** Reads into `buffer`; resolves the byte count, or null at EOF. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes some of `chunk`; resolves how much was written. */
  write(chunk: Uint8Array): Promise<number>;
  /** Half-close: sends FIN, reading goes on. */
  closeWrite(): Promise<void>;
  /** Closes both directions. Idempotent. */
  close(): void;
}

/** Writes all of `chunk`. */
export async function writeAll(conn: TcpConn, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.byteLength) {
    offset += await conn.write(offset === 0 ? chunk : chunk.subarray(offset));
  }
}

/** What {@link closeQuietly} closed: a second call returns at once (a throw builds an error). */
const closedByUs = new WeakSet<object>();

/** Closes a Deno connection, ignoring "already closed". */
export function closeQuietly(conn: { close(): void }): void {
  if (closedByUs.has(conn)) return;
  closedByUs.add(conn);
  try {
    conn.close();
  } catch {
    // Already closed: nothing to do.
  }
}

/**
 * Adapts a connected `node:net` socket. Reads are pull-based (the socket is
 * paused while nothing is reading), writes resolve when the kernel buffer
 * accepted the chunk (backpressure through the write callback).
 */
export function fromNodeSocket(socket: Socket): TcpConn {
  const queue: Uint8Array[] = [];
  let ended = false;
  let error: Error | undefined;
  let waiter: (() => void) | undefined;
  const wake = () => {
    const w = waiter;
    waiter = undefined;
    w?.();
  };
  socket.pause();
  socket.on("data", (data: Uint8Array) => {
    queue.push(data);
    socket.pause();
    wake();
  });
  socket.on("end", () => {
    ended = true;
    wake();
  });
  socket.on("error", (e: Error) => {
    error = e;
    wake();
  });
  socket.on("close", () => {
    ended = true;
    wake();
  });
  return {
    async read(buffer) {
      while (queue.length === 0) {
        if (error) throw error;
        if (ended) return null;
        socket.resume();
        await new Promise<void>((resolve) => (waiter = resolve));
      }
      const head = queue[0]!;
      const n = Math.min(head.byteLength, buffer.byteLength);
      buffer.set(head.subarray(0, n));
      if (n === head.byteLength) queue.shift();
      else queue[0] = head.subarray(n);
      return n;
    },
    write(chunk) {
      if (error) return Promise.reject(error);
      return new Promise((resolve, reject) => {
        socket.write(chunk, (e) => (e ? reject(e) : resolve(chunk.byteLength)));
      });
    },
    closeWrite() {
      return new Promise((resolve) => socket.end(() => resolve()));
    },
    close() {
      socket.destroy();
    },
  };
}
