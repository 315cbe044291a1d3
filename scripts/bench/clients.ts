/**
 * The bench's client side: curl downloads, CONNECT + 1-byte echo round
 * trips, and many concurrent byte-exact downloads, each either through the
 * SOCKS5 proxy or straight to the destination (the baseline).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { type HandshakeMarks, socksConnect, writeAll } from "./socks_client.ts";

/**
 * Where a client connects: through the proxy's SOCKS port, through its HTTP door with CONNECT
 * (the same mixed port), or directly.
 */
export type Route =
  | { readonly socksPort: number }
  | { readonly httpConnectPort: number }
  | { readonly direct: true };

/** What curl reported for one download. */
export interface CurlResult {
  readonly httpCode: number;
  readonly bytes: number;
  /** curl's `time_total`: connect, SOCKS handshake, request and the whole body. */
  readonly seconds: number;
}

/**
 * Downloads `http://127.0.0.1:<httpPort>/bytes/<bytes>` with curl into
 * /dev/null, through `--socks5-hostname` when a SOCKS port is given.
 */
export async function curlDownload(
  route: Route,
  httpPort: number,
  bytes: number,
  path = `/bytes/${bytes}`,
): Promise<CurlResult> {
  const url = `http://127.0.0.1:${httpPort}${path}`;
  const args = [
    "--silent",
    "--show-error",
    "--output",
    "/dev/null",
    "--max-time",
    "600",
    "--write-out",
    "%{http_code} %{size_download} %{time_total}",
    ...("socksPort" in route ? ["--socks5-hostname", `127.0.0.1:${route.socksPort}`] : []),
    url,
  ];
  const output = await new Deno.Command("curl", { args, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(output.stdout).trim();
  const [code, size, total] = text.split(" ").map(Number);
  if (!output.success || code !== 200 || size !== bytes) {
    throw new Error(
      `curl ${args.join(" ")} failed (exit ${output.code}, "${text}"): ${
        new TextDecoder().decode(output.stderr).trim()
      }`,
    );
  }
  return { httpCode: code, bytes: size, seconds: total! };
}

/** Opens a TCP connection to `host:port`, through the proxy or directly. */
async function open(route: Route, port: number, marks?: HandshakeMarks): Promise<Deno.TcpConn> {
  if ("socksPort" in route) {
    const tunnel = await socksConnect(route.socksPort, "127.0.0.1", port, marks);
    if (tunnel.early.byteLength > 0) {
      tunnel.conn.close();
      throw new Error("The proxy sent bytes before the client asked for any.");
    }
    return tunnel.conn;
  }
  if ("httpConnectPort" in route) return await httpConnect(route.httpConnectPort, port);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.setNoDelay(true);
  return conn;
}

/** A CONNECT tunnel through the proxy's HTTP door to 127.0.0.1:`port`. */
async function httpConnect(proxyPort: number, port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxyPort });
  conn.setNoDelay(true);
  try {
    await writeAll(
      conn,
      new TextEncoder().encode(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`),
    );
    // The answer is one head; read it byte by byte so no tunnel byte is taken.
    let head = "";
    const byte = new Uint8Array(1);
    while (!head.endsWith("\r\n\r\n")) {
      if ((await conn.read(byte)) === null) throw new Error(`The proxy closed after "${head}".`);
      head += String.fromCharCode(byte[0]!);
      if (head.length > 1024) throw new Error("The CONNECT answer head is too long.");
    }
    if (!head.startsWith("HTTP/1.1 200 ")) throw new Error(`CONNECT answered "${head.trim()}".`);
    return conn;
  } catch (error) {
    conn.close();
    throw error;
  }
}

const PING = Uint8Array.of(0x2a);

/** Milliseconds of one CONNECT + echo, whole and (through the proxy) per step. */
export interface EchoTiming {
  readonly totalMs: number;
  /** SOCKS runs: TCP connect to the proxy. */
  readonly tcpConnectMs?: number;
  /** SOCKS runs: greeting → method selection. */
  readonly greetingMs?: number;
  /** SOCKS runs: request → reply (stream open, ConnectRequest, the exit's dial, ConnectResponse). */
  readonly requestMs?: number;
  /** SOCKS runs: one byte there and back through the open tunnel. */
  readonly echoMs?: number;
}

/**
 * One new connection, one byte out, the same byte back, close. Resolves
 * the milliseconds from the start of the connect to the byte's return.
 */
export async function connectAndEcho(route: Route, echoPort: number): Promise<number> {
  return (await connectAndEchoTimed(route, echoPort)).totalMs;
}

/** `connectAndEcho` with the time of each step. */
export async function connectAndEchoTimed(route: Route, echoPort: number): Promise<EchoTiming> {
  const marks: HandshakeMarks = {};
  const started = performance.now();
  const conn = await open(route, echoPort, marks);
  try {
    const opened = performance.now();
    await writeAll(conn, PING);
    const reply = new Uint8Array(1);
    const n = await conn.read(reply);
    if (n !== 1 || reply[0] !== PING[0]) throw new Error("The echo did not come back.");
    const ended = performance.now();
    const { tcpConnected, methodSelected, replied } = marks;
    if (tcpConnected === undefined || methodSelected === undefined || replied === undefined) {
      return { totalMs: ended - started };
    }
    return {
      totalMs: ended - started,
      tcpConnectMs: tcpConnected - started,
      greetingMs: methodSelected - tcpConnected,
      requestMs: replied - methodSelected,
      echoMs: ended - opened,
    };
  } finally {
    conn.close();
  }
}

/** The outcome of one byte-exact download. */
export interface DownloadOutcome {
  readonly ok: boolean;
  readonly error?: string;
}

/** Options of a concurrent download run. */
export interface ConcurrentOptions {
  readonly route: Route;
  readonly httpPort: number;
  readonly sessions: number;
  readonly bytesEach: number;
  /** The body every session must receive, byte for byte. */
  readonly expected: Uint8Array;
  /** Hold every session open until all have connected, so they are truly simultaneous. */
  readonly barrier: boolean;
  /** Per-session deadline. */
  readonly timeoutMs: number;
  /** Called once every session has connected (barrier runs only), e.g. to sample fd counts. */
  readonly onAllConnected?: () => Promise<void>;
}

/** What a concurrent run did. */
export interface ConcurrentResult {
  readonly sessions: number;
  readonly succeeded: number;
  readonly failed: number;
  /** From the first connect to the last byte of the last session. */
  readonly seconds: number;
  /** Barrier runs: from the release to the last byte. */
  readonly transferSeconds?: number;
  /** The first few distinct failure messages. */
  readonly errors: readonly string[];
}

/** Longest HTTP response head we accept. */
const MAX_HEAD_BYTES = 1024;

/** Reads a whole HTTP response into one buffer and checks its body byte for byte. */
async function readAndVerify(conn: Deno.TcpConn, expected: Uint8Array): Promise<void> {
  const buffer = new Uint8Array(expected.byteLength + MAX_HEAD_BYTES);
  let length = 0;
  while (true) {
    if (length === buffer.byteLength) throw new Error("The response is longer than expected.");
    const n = await conn.read(buffer.subarray(length));
    if (n === null) break;
    length += n;
  }
  const head = Buffer.from(buffer.buffer, 0, Math.min(length, MAX_HEAD_BYTES));
  const end = head.indexOf("\r\n\r\n");
  if (end < 0) throw new Error(`No HTTP response head in ${length} bytes.`);
  const status = head.subarray(0, end).toString("latin1").split("\r\n")[0] ?? "";
  if (!status.startsWith("HTTP/1.1 200")) throw new Error(`HTTP status "${status}".`);
  const body = Buffer.from(buffer.buffer, end + 4, length - end - 4);
  if (body.byteLength !== expected.byteLength) {
    throw new Error(`Got ${body.byteLength} body bytes, expected ${expected.byteLength}.`);
  }
  if (!body.equals(expected)) throw new Error("The body differs from the pattern.");
}

/** Runs `sessions` downloads of `/pattern/<bytesEach>` at once and checks each byte-exact. */
export async function concurrentDownloads(options: ConcurrentOptions): Promise<ConcurrentResult> {
  const request = new TextEncoder().encode(
    `GET /pattern/${options.bytesEach} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
  );
  let connected = 0;
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let releasedAt = 0;
  const errors = new Set<string>();

  const session = async (): Promise<DownloadOutcome> => {
    let conn: Deno.TcpConn | undefined;
    const timer = setTimeout(() => {
      try {
        conn?.close();
      } catch { /* already closed */ }
    }, options.timeoutMs);
    try {
      conn = await open(options.route, options.httpPort);
      if (options.barrier) {
        if (++connected === options.sessions) {
          await options.onAllConnected?.();
          releasedAt = performance.now();
          release();
        }
        await released;
      }
      await writeAll(conn, request);
      await readAndVerify(conn, options.expected);
      return { ok: true };
    } catch (error) {
      if (options.barrier && conn === undefined) {
        // A session that could not connect must not keep the others waiting forever.
        if (++connected === options.sessions) release();
      }
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      return { ok: false, error: message };
    } finally {
      clearTimeout(timer);
      try {
        conn?.close();
      } catch { /* already closed */ }
    }
  };

  const started = performance.now();
  const outcomes = await Promise.all(Array.from({ length: options.sessions }, session));
  const finished = performance.now();
  for (const outcome of outcomes) {
    if (!outcome.ok && errors.size < 5) errors.add(outcome.error ?? "unknown");
  }
  const succeeded = outcomes.filter((o) => o.ok).length;
  return {
    sessions: options.sessions,
    succeeded,
    failed: options.sessions - succeeded,
    seconds: (finished - started) / 1000,
    ...(options.barrier && releasedAt > 0
      ? { transferSeconds: (finished - releasedAt) / 1000 }
      : {}),
    errors: [...errors],
  };
}
