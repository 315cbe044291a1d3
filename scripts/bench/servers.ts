/**
 * The bench's destination, run as its own process so that it does not share
 * an event loop with anything measured:
 *
 * - a minimal HTTP/1.1 server: `GET /bytes/<n>` sends n bytes in 256 KiB
 *   writes (the bulk download), `GET /pattern/<n>` sends `patternBytes(n)`
 *   (the byte-exact concurrency check); every response closes the connection;
 * - a TCP echo server (the connect-latency test);
 * - a control port that answers one JSON line of counters and closes
 *   (open connections per server, to prove nothing was left open).
 *
 * Prints `{"http":…,"echo":…,"control":…}` on stdout once listening and
 * runs until killed.
 *
 * Usage: `deno run -A scripts/bench/servers.ts`
 *
 * @module
 */
import { patternBytes } from "./pattern.ts";

/** Bulk responses are written in these slices (the same size the raw libp2p baseline writes). */
const BULK_WRITE_BYTES = 256 * 1024;

/** A request head longer than this is not one of ours. */
const MAX_HEAD_BYTES = 8 * 1024;

/** Read size of the echo server. */
const ECHO_READ_BYTES = 64 * 1024;

const BULK_CHUNK = patternBytes(BULK_WRITE_BYTES);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Live counters, reported on the control port. */
const counters = {
  httpOpen: 0,
  httpTotal: 0,
  httpErrors: 0,
  echoOpen: 0,
  echoTotal: 0,
  echoErrors: 0,
};

const patterns = new Map<number, Uint8Array>();

function patternFor(length: number): Uint8Array {
  let body = patterns.get(length);
  if (!body) {
    body = patternBytes(length);
    patterns.set(length, body);
  }
  return body;
}

async function writeAll(conn: Deno.Conn, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.byteLength) offset += await conn.write(chunk.subarray(offset));
}

/** Reads until the blank line that ends an HTTP request head; null if the client left first. */
async function readHead(conn: Deno.Conn): Promise<string | null> {
  const buffer = new Uint8Array(MAX_HEAD_BYTES);
  let length = 0;
  while (length < buffer.byteLength) {
    const n = await conn.read(buffer.subarray(length));
    if (n === null) return null;
    length += n;
    const text = decoder.decode(buffer.subarray(0, length));
    if (text.includes("\r\n\r\n")) return text;
  }
  throw new Error("The request head is too long.");
}

async function sendBulk(conn: Deno.Conn, bytes: number): Promise<void> {
  let left = bytes;
  while (left > 0) {
    const slice = left >= BULK_CHUNK.byteLength ? BULK_CHUNK : BULK_CHUNK.subarray(0, left);
    await writeAll(conn, slice);
    left -= slice.byteLength;
  }
}

function header(status: string, length: number): Uint8Array {
  return encoder.encode(
    `HTTP/1.1 ${status}\r\nContent-Type: application/octet-stream\r\n` +
      `Content-Length: ${length}\r\nConnection: close\r\n\r\n`,
  );
}

async function serveHttp(conn: Deno.Conn): Promise<void> {
  counters.httpOpen++;
  counters.httpTotal++;
  try {
    const head = await readHead(conn);
    if (head === null) return;
    const match = /^GET \/(bytes|pattern)\/(\d+) HTTP\/1\.[01]\r\n/.exec(head);
    const bytes = match ? Number(match[2]) : NaN;
    if (!match || !Number.isSafeInteger(bytes)) {
      await writeAll(conn, header("404 Not Found", 0));
      return;
    }
    await writeAll(conn, header("200 OK", bytes));
    if (match[1] === "bytes") await sendBulk(conn, bytes);
    else await writeAll(conn, patternFor(bytes));
  } catch {
    counters.httpErrors++;
  } finally {
    try {
      conn.close();
    } catch { /* already closed */ }
    counters.httpOpen--;
  }
}

async function serveEcho(conn: Deno.Conn): Promise<void> {
  counters.echoOpen++;
  counters.echoTotal++;
  const buffer = new Uint8Array(ECHO_READ_BYTES);
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      await writeAll(conn, buffer.subarray(0, n));
    }
  } catch {
    counters.echoErrors++;
  } finally {
    try {
      conn.close();
    } catch { /* already closed */ }
    counters.echoOpen--;
  }
}

async function serveControl(conn: Deno.Conn): Promise<void> {
  try {
    await writeAll(conn, encoder.encode(JSON.stringify(counters) + "\n"));
  } catch {
    /* the asker left */
  } finally {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

async function acceptLoop(
  listener: Deno.Listener,
  serve: (conn: Deno.Conn) => Promise<void>,
  noDelay: boolean,
): Promise<void> {
  for await (const conn of listener) {
    if (noDelay) (conn as Deno.TcpConn).setNoDelay(true);
    serve(conn);
  }
}

if (import.meta.main) {
  const http = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const echo = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const control = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const portOf = (l: Deno.Listener) => (l.addr as Deno.NetAddr).port;
  console.log(JSON.stringify({ http: portOf(http), echo: portOf(echo), control: portOf(control) }));
  await Promise.all([
    acceptLoop(http, serveHttp, false),
    acceptLoop(echo, serveEcho, true),
    acceptLoop(control, serveControl, false),
  ]);
}
