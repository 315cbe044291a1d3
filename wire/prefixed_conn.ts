/**
 * A connection whose first bytes were already read (a mixed port peeked them to choose the
 * door): reads return those bytes first, then the connection's own.
 *
 * @module
 */
import type { ClientConnection } from "../core/ports/inbound.ts";
import { closeQuietly } from "./tcp_conn.ts";

/**
 * Wraps `conn` so the next reads return `prefix` before anything else.
 *
 * @example
 * ```ts
 * const first = new Uint8Array(1);
 * await conn.read(first);
 * handler(prefixedConn(conn, first), signal); // the handler sees the whole stream
 * ```
 */
export function prefixedConn(conn: ClientConnection, prefix: Uint8Array): ClientConnection {
  let pending = prefix;
  return {
    // The addresses stay visible: a UDP association serves only the client's host.
    ...(conn.remoteAddr ? { remoteAddr: conn.remoteAddr } : {}),
    ...(conn.localAddr ? { localAddr: conn.localAddr } : {}),
    read(buffer: Uint8Array): Promise<number | null> {
      if (pending.byteLength === 0) return conn.read(buffer);
      const n = Math.min(buffer.byteLength, pending.byteLength);
      buffer.set(pending.subarray(0, n));
      pending = pending.subarray(n);
      return Promise.resolve(n);
    },
    write: (chunk) => conn.write(chunk),
    closeWrite: () => conn.closeWrite(),
    close: () => closeQuietly(conn),
  };
}
