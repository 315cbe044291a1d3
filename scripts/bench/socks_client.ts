/**
 * A minimal SOCKS5 client for the bench (no auth, CONNECT only), built on
 * the core's codec. It speaks like curl does: greeting, wait for the method,
 * request, wait for the reply.
 *
 * @module
 */
import {
  AUTH_METHOD,
  encodeGreeting,
  encodeRequest,
  parseMethodSelection,
  parseReply,
  type ParseResult,
  SOCKS_REPLY,
} from "../../core/codec/socks5.ts";

/** A CONNECT the proxy answered with a failure code. */
export class SocksReplyError extends Error {
  override name = "SocksReplyError";
  readonly replyCode: number;

  constructor(replyCode: number) {
    super(`The proxy answered CONNECT with reply code ${replyCode}.`);
    this.replyCode = replyCode;
  }
}

/** An open tunnel and any bytes that arrived right behind the reply. */
export interface SocksTunnel {
  readonly conn: Deno.TcpConn;
  readonly early: Uint8Array;
}

/** Bytes read at a time during the handshake (a reply is at most 262 bytes). */
const HANDSHAKE_READ_BYTES = 512;

/** Writes all of `chunk`. */
export async function writeAll(conn: Deno.Conn, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.byteLength) offset += await conn.write(chunk.subarray(offset));
}

/** Reads one message with an incremental parser; returns it and the bytes after it. */
async function readMessage<T>(
  conn: Deno.Conn,
  buffered: Uint8Array,
  parse: (buf: Uint8Array) => ParseResult<T>,
): Promise<{ value: T; rest: Uint8Array }> {
  let buffer = buffered;
  while (true) {
    const result = parse(buffer);
    if (result.kind === "ok") return { value: result.value, rest: buffer.slice(result.consumed) };
    const chunk = new Uint8Array(HANDSHAKE_READ_BYTES);
    const n = await conn.read(chunk);
    if (n === null) throw new Error("The proxy closed the connection during the handshake.");
    const merged = new Uint8Array(buffer.byteLength + n);
    merged.set(buffer);
    merged.set(chunk.subarray(0, n), buffer.byteLength);
    buffer = merged;
  }
}

/** When each handshake step completed (`performance.now()`), for a latency breakdown. */
export interface HandshakeMarks {
  tcpConnected?: number;
  methodSelected?: number;
  replied?: number;
}

/**
 * Connects to the SOCKS5 proxy at 127.0.0.1:`proxyPort` and asks it to
 * CONNECT to `host:port`. Throws `SocksReplyError` on a failure reply; the
 * connection is closed on any error. `marks`, when given, receives the time
 * of each step.
 */
export async function socksConnect(
  proxyPort: number,
  host: string,
  port: number,
  marks?: HandshakeMarks,
): Promise<SocksTunnel> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxyPort });
  if (marks) marks.tcpConnected = performance.now();
  try {
    conn.setNoDelay(true);
    await writeAll(conn, encodeGreeting([AUTH_METHOD.noAuth]));
    const selection = await readMessage(conn, new Uint8Array(0), parseMethodSelection);
    if (marks) marks.methodSelected = performance.now();
    if (selection.value.method !== AUTH_METHOD.noAuth) {
      throw new Error(`The proxy chose auth method ${selection.value.method}, not "no auth".`);
    }
    await writeAll(conn, encodeRequest({ command: "connect", host, port }));
    const reply = await readMessage(conn, selection.rest, parseReply);
    if (marks) marks.replied = performance.now();
    if (reply.value.code !== SOCKS_REPLY.succeeded) throw new SocksReplyError(reply.value.code);
    return { conn, early: reply.rest };
  } catch (error) {
    try {
      conn.close();
    } catch { /* already closed */ }
    throw error;
  }
}
