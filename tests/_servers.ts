/**
 * Destination servers for the data-plane integration tests: real listeners
 * on 127.0.0.1 that the exit connects to. Every payload is a deterministic
 * byte pattern, so a test can check what arrived by SHA-256 without keeping
 * a copy; every server tracks its connections so a test can assert that
 * nothing connected (egress denials) or that nothing was left open.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";

/** The pattern is generated in blocks of this size; each block depends on (seed, index). */
const PATTERN_BLOCK_BYTES = 64 * 1024;

/** Chunks the pattern is produced in; a multiple of the block size. */
export const PATTERN_CHUNK_BYTES = 16 * PATTERN_BLOCK_BYTES;

/** One pattern block: xorshift32 seeded by the seed and the block's index (shifted copies differ). */
function patternBlock(seed: number, index: number): Uint8Array {
  const words = new Uint32Array(PATTERN_BLOCK_BYTES / 4);
  let x = (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return new Uint8Array(words.buffer);
}

/** The deterministic byte stream `(length, seed)` in chunks of `PATTERN_CHUNK_BYTES` (last shorter). */
export function* patternChunks(length: number, seed: number): Generator<Uint8Array> {
  const blocksPerChunk = PATTERN_CHUNK_BYTES / PATTERN_BLOCK_BYTES;
  let index = 0;
  for (let offset = 0; offset < length; offset += PATTERN_CHUNK_BYTES) {
    const size = Math.min(PATTERN_CHUNK_BYTES, length - offset);
    const chunk = new Uint8Array(size);
    for (let b = 0; b < blocksPerChunk && b * PATTERN_BLOCK_BYTES < size; b++) {
      const block = patternBlock(seed, index++);
      chunk.set(block.subarray(0, size - b * PATTERN_BLOCK_BYTES), b * PATTERN_BLOCK_BYTES);
    }
    yield chunk;
  }
}

/** The whole pattern `(length, seed)` in one buffer. */
export function patternBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of patternChunks(length, seed)) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** SHA-256 (hex) of the pattern `(length, seed)`, computed without holding it all. */
export function patternSha256(length: number, seed: number): string {
  const hash = createHash("sha256");
  for (const chunk of patternChunks(length, seed)) hash.update(chunk);
  return hash.digest("hex");
}

/** SHA-256 (hex) of some bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** An incremental SHA-256 that also counts bytes. */
export class ByteDigest {
  readonly #hash: Hash = createHash("sha256");
  /** Bytes seen so far. */
  bytes = 0;

  /** Adds a chunk. */
  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
    this.bytes += chunk.byteLength;
  }

  /** The hex digest (call once). */
  hex(): string {
    return this.#hash.digest("hex");
  }
}

/** Writes all of `bytes` to a Deno connection (`write` may be partial). */
export async function writeFully(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) offset += await conn.write(bytes.subarray(offset));
}

/** What a destination server reports about its connections. */
export interface ConnectionLog {
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections being served now. */
  readonly active: number;
  /** The remote (source) address of every accepted connection, in order. */
  readonly peers: readonly Deno.NetAddr[];
}

/** A running raw TCP destination. */
export interface TcpDestination extends ConnectionLog {
  readonly port: number;
  /** Stops accepting, closes every connection, waits for the handlers. */
  close(): Promise<void>;
}

/** Accepts on 127.0.0.1 (or `hostname`) and runs `handle` per connection; errors end that connection only. */
function serveTcp(
  handle: (conn: Deno.TcpConn) => Promise<void>,
  hostname = "127.0.0.1",
): TcpDestination {
  const listener = Deno.listen({ hostname, port: 0 });
  const conns = new Set<Deno.TcpConn>();
  const handlers = new Set<Promise<void>>();
  const peers: Deno.NetAddr[] = [];
  let accepted = 0;
  const loop = (async () => {
    for await (const conn of listener) {
      accepted++;
      peers.push(conn.remoteAddr);
      conns.add(conn);
      const task: Promise<void> = handle(conn)
        .catch(() => {/* the client went away: that ends this connection only */})
        .finally(() => {
          conns.delete(conn);
          handlers.delete(task);
          try {
            conn.close();
          } catch { /* already closed */ }
        });
      handlers.add(task);
    }
  })().catch(() => {/* listener closed */});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get accepted() {
      return accepted;
    },
    get active() {
      return conns.size;
    },
    peers,
    async close() {
      try {
        listener.close();
      } catch { /* already closed */ }
      await loop;
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
      await Promise.all([...handlers]);
    },
  };
}

/** Echoes every byte; the client's EOF is passed on as a half-close, then the socket closes. */
export function startEchoServer(): TcpDestination {
  return serveTcp(async (conn) => {
    const buffer = new Uint8Array(256 * 1024);
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      await writeFully(conn, buffer.subarray(0, n));
    }
    await conn.closeWrite();
  });
}

/** What the drain-then-send server received on one connection. */
export interface DrainResult {
  readonly bytes: number;
  readonly sha256: string;
}

/** A server that reads to EOF, then sends a pattern, then closes (half-close from the far side). */
export interface DrainThenSendServer extends TcpDestination {
  /** One entry per finished upstream read, in order. */
  readonly received: readonly DrainResult[];
}

/** Reads until the client half-closes, then sends `replyBytes` of pattern `seed` and closes. */
export function startDrainThenSendServer(replyBytes: number, seed: number): DrainThenSendServer {
  const received: DrainResult[] = [];
  const server = serveTcp(async (conn) => {
    const digest = new ByteDigest();
    const buffer = new Uint8Array(256 * 1024);
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      digest.update(buffer.subarray(0, n));
    }
    received.push({ bytes: digest.bytes, sha256: digest.hex() });
    for (const chunk of patternChunks(replyBytes, seed)) await writeFully(conn, chunk);
    await conn.closeWrite();
  });
  return Object.assign(server, { received });
}

/** The cycle the source server repeats: generated once, so the source writes as fast as TCP takes it. */
const SOURCE_CYCLE_BYTES = 32 * 1024 * 1024;
/** The source's write size; divides the cycle. */
const SOURCE_WRITE_BYTES = 256 * 1024;

/** A source server, which also counts what the kernel accepted from it. */
export interface SourceServer extends TcpDestination {
  /** Bytes written to all connections so far (accepted by the socket, not necessarily read). */
  readonly bytesSent: number;
}

/**
 * Sends `"<source host> <source port>\n"` (the address it sees the
 * connection come from), then the pattern `(32 MiB, seed)` over and over
 * until the client goes away: a fast, endless download whose exit can be
 * told apart, and whose sender shows whether backpressure reached it.
 */
export function startSourceServer(seed: number): SourceServer {
  const encoder = new TextEncoder();
  let cycle: Uint8Array | undefined;
  let bytesSent = 0;
  const server = serveTcp(async (conn) => {
    const remote = conn.remoteAddr;
    await writeFully(conn, encoder.encode(`${remote.hostname} ${remote.port}\n`));
    cycle ??= patternBytes(SOURCE_CYCLE_BYTES, seed);
    while (true) {
      for (let offset = 0; offset < cycle.byteLength; offset += SOURCE_WRITE_BYTES) {
        await writeFully(conn, cycle.subarray(offset, offset + SOURCE_WRITE_BYTES));
        bytesSent += SOURCE_WRITE_BYTES;
      }
    }
  });
  return Object.defineProperty(server, "bytesSent", { get: () => bytesSent }) as SourceServer;
}

/** A running HTTP destination. */
export interface HttpDestination extends ConnectionLog {
  readonly port: number;
  /** Stops the server (aborts open requests). */
  close(): Promise<void>;
}

/**
 * An HTTP/1.1 server on 127.0.0.1:
 * - `GET /bytes/<n>?seed=<s>`: `n` bytes of the pattern, with Content-Length;
 * - `POST|PUT /upload`: reads the body, answers `{"bytes": n, "sha256": "…"}`;
 * - `GET /whoami`: the source address it sees, as `host port`.
 */
export function startHttpDestination(): HttpDestination {
  const peers: Deno.NetAddr[] = [];
  let accepted = 0;
  let active = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request, info) => {
      accepted++;
      peers.push(info.remoteAddr);
      active++;
      try {
        return await route(request, info.remoteAddr);
      } finally {
        active--;
      }
    },
  );
  return {
    port: server.addr.port,
    get accepted() {
      return accepted;
    },
    get active() {
      return active;
    },
    peers,
    async close() {
      await server.shutdown();
    },
  };
}

async function route(request: Request, remote: Deno.NetAddr): Promise<Response> {
  const url = new URL(request.url);
  const bytesMatch = /^\/bytes\/(\d+)$/.exec(url.pathname);
  if (request.method === "GET" && bytesMatch) {
    const length = Number(bytesMatch[1]);
    const seed = Number(url.searchParams.get("seed") ?? "0");
    const chunks = patternChunks(length, seed);
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = chunks.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
    });
    return new Response(body, {
      headers: { "content-type": "application/octet-stream", "content-length": `${length}` },
    });
  }
  if ((request.method === "POST" || request.method === "PUT") && url.pathname === "/upload") {
    const digest = new ByteDigest();
    if (request.body) {
      for await (const chunk of request.body) digest.update(chunk);
    }
    return Response.json({ bytes: digest.bytes, sha256: digest.hex() });
  }
  if (request.method === "GET" && url.pathname === "/whoami") {
    return new Response(`${remote.hostname} ${remote.port}\n`);
  }
  return new Response("not found\n", { status: 404 });
}
