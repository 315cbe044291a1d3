/**
 * A small SOCKS5 client for the integration tests, built on the core's codec
 * (RFC 1928 / RFC 1929). Every read is bounded: a server that hangs makes
 * the test fail in seconds with a message that says what it waited for.
 *
 * @module
 */
import {
  AUTH_METHOD,
  encodeGreeting,
  encodeRequest,
  encodeUserPass,
  parseMethodSelection,
  parseReply,
  type ParseResult,
  parseUserPassStatus,
  type Socks5Reply,
  type Socks5RequestInit,
} from "../core/codec/socks5.ts";
import { writeFully } from "./_servers.ts";

/** Default bound on any single wait of the client: far above a loopback round trip. */
export const CLIENT_WAIT_MS = 10_000;

/** A wait that ran out. */
export class WaitTimeoutError extends Error {
  override name = "WaitTimeoutError";
}

/** A SOCKS reply other than success; the connection is already closed. */
export class SocksReplyError extends Error {
  override name = "SocksReplyError";
  readonly reply: Socks5Reply;

  constructor(reply: Socks5Reply) {
    super(`The SOCKS server answered reply code 0x${reply.code.toString(16).padStart(2, "0")}.`);
    this.reply = reply;
  }
}

/** How a connection ended when read to its end. */
export type CloseKind = "eof" | "reset";

/** Races `promise` against a timer; on timeout calls `onTimeout` (which should unblock it) and throws. */
export async function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  onTimeout?: () => void,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  const guarded = promise.then(
    (value) => value,
    (error) => {
      if (timedOut) throw new WaitTimeoutError(`Timed out after ${ms} ms waiting for ${what}.`);
      throw error;
    },
  );
  try {
    return await Promise.race([
      guarded,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          timedOut = true;
          onTimeout?.();
          reject(new WaitTimeoutError(`Timed out after ${ms} ms waiting for ${what}.`));
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    // The losing side must settle (its rejection is expected once the conn is closed).
    guarded.catch(() => {});
  }
}

/** Polls `predicate` every 20 ms until it holds; throws after `ms`. */
export async function waitUntil(
  predicate: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) {
      throw new WaitTimeoutError(`Timed out after ${ms} ms waiting for ${what}.`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A buffered reader over a connection whose every wait is bounded (a timeout closes the conn). */
export class ConnReader {
  readonly conn: Deno.Conn;
  #buffer = new Uint8Array(0);
  #closed = false;

  constructor(conn: Deno.Conn) {
    this.conn = conn;
  }

  /** Bytes read but not consumed yet. */
  get buffered(): Uint8Array {
    return this.#buffer;
  }

  /** Closes the connection (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  /** One read of up to `size` bytes; null at EOF. Bounded by `ms`. */
  async readChunk(size: number, ms: number, what: string): Promise<Uint8Array | null> {
    if (this.#buffer.byteLength > 0) {
      const out = this.#buffer.subarray(0, Math.min(size, this.#buffer.byteLength));
      this.#buffer = this.#buffer.subarray(out.byteLength);
      return out;
    }
    const buffer = new Uint8Array(size);
    const n = await within(this.conn.read(buffer), ms, what, () => this.close());
    return n === null ? null : buffer.subarray(0, n);
  }

  /** Parses one message, reading more as needed; throws on EOF before it is whole. */
  async message<T>(
    parse: (buf: Uint8Array) => ParseResult<T>,
    ms: number,
    what: string,
  ): Promise<T> {
    const deadline = Date.now() + ms;
    while (true) {
      const result = parse(this.#buffer);
      if (result.kind === "ok") {
        this.#buffer = this.#buffer.subarray(result.consumed);
        return result.value;
      }
      const chunk = new Uint8Array(4096);
      const left = Math.max(1, deadline - Date.now());
      const n = await within(this.conn.read(chunk), left, what, () => this.close());
      if (n === null) throw new Error(`The server closed the connection before ${what} was whole.`);
      const merged = new Uint8Array(this.#buffer.byteLength + n);
      merged.set(this.#buffer);
      merged.set(chunk.subarray(0, n), this.#buffer.byteLength);
      this.#buffer = merged;
    }
  }

  /** Reads exactly `length` bytes (into one buffer); throws on an early EOF. */
  async exactly(length: number, ms: number, what: string): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let filled = 0;
    const deadline = Date.now() + ms;
    while (filled < length) {
      const left = Math.max(1, deadline - Date.now());
      const chunk = await this.readChunk(Math.min(256 * 1024, length - filled), left, what);
      if (chunk === null) {
        throw new Error(`EOF after ${filled} of ${length} bytes while reading ${what}.`);
      }
      out.set(chunk, filled);
      filled += chunk.byteLength;
    }
    return out;
  }

  /** Reads up to and including the first `\n` (at most 1 KiB); returns the line without it. */
  async line(ms: number, what: string): Promise<string> {
    const deadline = Date.now() + ms;
    let text = "";
    while (true) {
      const left = Math.max(1, deadline - Date.now());
      const chunk = await this.readChunk(1, left, what);
      if (chunk === null) {
        throw new Error(`EOF while reading ${what}: got ${JSON.stringify(text)}.`);
      }
      const char = String.fromCharCode(chunk[0]!);
      if (char === "\n") return text;
      text += char;
      if (text.length > 1024) throw new Error(`No newline in the first 1 KiB of ${what}.`);
    }
  }

  /**
   * Reads until the connection ends, passing every chunk to `onChunk`;
   * resolves how it ended ("reset" for a connection error). The whole read
   * is bounded by `ms`.
   */
  async toEnd(
    ms: number,
    what: string,
    onChunk: (chunk: Uint8Array) => void = () => {},
  ): Promise<CloseKind> {
    const deadline = Date.now() + ms;
    if (this.#buffer.byteLength > 0) {
      onChunk(this.#buffer);
      this.#buffer = new Uint8Array(0);
    }
    const buffer = new Uint8Array(256 * 1024);
    while (true) {
      const left = deadline - Date.now();
      if (left <= 0) {
        this.close();
        throw new WaitTimeoutError(`Timed out after ${ms} ms waiting for ${what} to end.`);
      }
      let n: number | null;
      try {
        n = await within(this.conn.read(buffer), left, `${what} to end`, () => this.close());
      } catch (error) {
        if (error instanceof WaitTimeoutError) throw error;
        if (this.#closed) throw error;
        return "reset";
      }
      if (n === null) return "eof";
      onChunk(buffer.subarray(0, n));
    }
  }
}

/** Credentials for RFC 1929. */
export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** An open SOCKS connection after a successful CONNECT. */
export interface SocksSession {
  readonly conn: Deno.TcpConn;
  readonly reader: ConnReader;
  readonly reply: Socks5Reply;
}

/** Options of {@link openSocks}. */
export interface OpenSocksOptions {
  /** The SOCKS listener's port on 127.0.0.1. */
  readonly proxyPort: number;
  readonly host: string;
  readonly port: number;
  readonly auth?: Credentials;
  /** Bound on each step (default {@link CLIENT_WAIT_MS}). */
  readonly timeoutMs?: number;
}

/** Opens a TCP connection to a local port, with a bounded connect. */
export async function connectLocal(port: number, ms = CLIENT_WAIT_MS): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port, signal: AbortSignal.timeout(ms) });
  conn.setNoDelay(true);
  return conn;
}

/** Sends a greeting; returns the method the server selected. */
export async function greet(
  reader: ConnReader,
  methods: readonly number[],
  ms = CLIENT_WAIT_MS,
): Promise<number> {
  await writeFully(reader.conn, encodeGreeting(methods));
  return (await reader.message(parseMethodSelection, ms, "the method selection")).method;
}

/** RFC 1929 sub-negotiation; returns the status byte (0 = success). */
export async function authenticate(
  reader: ConnReader,
  credentials: Credentials,
  ms = CLIENT_WAIT_MS,
): Promise<number> {
  await writeFully(reader.conn, encodeUserPass(credentials.username, credentials.password));
  return (await reader.message(parseUserPassStatus, ms, "the username/password status")).status;
}

/** Sends a request; returns the server's reply (whatever its code). */
export async function request(
  reader: ConnReader,
  init: Socks5RequestInit,
  ms = CLIENT_WAIT_MS,
): Promise<Socks5Reply> {
  await writeFully(reader.conn, encodeRequest(init));
  return await reader.message(parseReply, ms, "the SOCKS reply");
}

/**
 * Greeting (+ auth) + CONNECT. Resolves an open session on reply 00;
 * otherwise closes the connection and throws {@link SocksReplyError}.
 */
export async function openSocks(options: OpenSocksOptions): Promise<SocksSession> {
  const ms = options.timeoutMs ?? CLIENT_WAIT_MS;
  const conn = await connectLocal(options.proxyPort, ms);
  const reader = new ConnReader(conn);
  try {
    const wanted = options.auth ? AUTH_METHOD.userPass : AUTH_METHOD.noAuth;
    const method = await greet(reader, [wanted], ms);
    if (method !== wanted) throw new Error(`The server selected method 0x${method.toString(16)}.`);
    if (options.auth) {
      const status = await authenticate(reader, options.auth, ms);
      if (status !== 0) throw new Error(`Authentication failed with status ${status}.`);
    }
    const reply = await request(
      reader,
      { command: "connect", host: options.host, port: options.port },
      ms,
    );
    if (reply.code !== 0) throw new SocksReplyError(reply);
    return { conn, reader, reply };
  } catch (error) {
    reader.close();
    throw error;
  }
}

/** CONNECT and report the reply code (the connection is closed afterwards). */
export async function replyCodeFor(options: OpenSocksOptions): Promise<number> {
  try {
    const session = await openSocks(options);
    session.reader.close();
    return 0;
  } catch (error) {
    if (error instanceof SocksReplyError) return error.reply.code;
    throw error;
  }
}
