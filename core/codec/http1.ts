/**
 * HTTP/1.1 proxy codec (RFC 9112), pure and bounded: the request and response heads a proxy
 * reads, the body framing that follows them (Content-Length, chunked, until close), the targets
 * a proxy is given (`CONNECT host:port`, `GET http://host/path`), `Proxy-Authorization: Basic`,
 * and the head forwarded upstream without hop-by-hop headers. Nothing here touches a socket.
 *
 * A head is at most {@link MAX_HEAD_BYTES}; a longer one is a 431 before it is read whole.
 * Parsers never throw on bad input: they answer an {@link HttpHeadError} with the status to send.
 *
 * @example
 * ```ts
 * const result = parseRequestHead(bytes);
 * if (result.kind === "ok") result.head.method; // "CONNECT"
 * if (result.kind === "error") result.status; // 400 or 431
 * ```
 *
 * @module
 */

/** Request line + headers, including the blank line, at most this many bytes (then 431). */
export const MAX_HEAD_BYTES = 16 * 1024;

/** Most header lines one head may carry. */
export const MAX_HEADER_COUNT = 128;

/** A chunk-size line (with extensions) or a trailer line longer than this is malformed. */
export const MAX_CHUNK_LINE_BYTES = 1024;

/** Trailer section after the last chunk, at most this many bytes. */
export const MAX_TRAILER_BYTES = 8 * 1024;

/** One header as received: the name's case kept, the value trimmed. */
export type HttpHeader = readonly [name: string, value: string];

/** A parsed request head. */
export interface HttpRequestHead {
  /** The method, e.g. `GET`, `CONNECT`. */
  readonly method: string;
  /** The request target as sent (`http://host/path`, `host:443`, `/path`). */
  readonly target: string;
  /** `HTTP/1.1` or `HTTP/1.0`. */
  readonly version: string;
  /** The headers in the order received. */
  readonly headers: readonly HttpHeader[];
}

/** A parsed response head. */
export interface HttpResponseHead {
  /** `HTTP/1.1` or `HTTP/1.0`. */
  readonly version: string;
  /** The status code. */
  readonly status: number;
  /** The reason phrase (may be empty). */
  readonly reason: string;
  /** The headers in the order received. */
  readonly headers: readonly HttpHeader[];
}

/** Why a head cannot be read, and the status a proxy answers (400, 431; 502 for a response). */
export interface HttpHeadError {
  /** Always `error`. */
  readonly kind: "error";
  /** The status a proxy answers. */
  readonly status: number;
  /** One line naming the problem. */
  readonly message: string;
}

/** The outcome of a head parser: more bytes needed, the head and its length, or an error. */
export type HeadParse<T> =
  | { readonly kind: "need-more" }
  | { readonly kind: "ok"; readonly head: T; readonly consumed: number }
  | HttpHeadError;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const VERSION = /^HTTP\/1\.[01]$/;
const latin1 = new TextDecoder("latin1");
const encoder = new TextEncoder();

/** The index just past the head's blank line (`\r\n\r\n`), or -1 when it has not come yet. */
export function headEnd(bytes: Uint8Array, from = 0): number {
  const limit = Math.min(bytes.byteLength, MAX_HEAD_BYTES);
  for (let i = Math.max(3, from); i < limit; i++) {
    if (
      bytes[i] === 0x0a && bytes[i - 1] === 0x0d && bytes[i - 2] === 0x0a && bytes[i - 3] === 0x0d
    ) {
      return i + 1;
    }
  }
  return -1;
}

function headError(status: number, message: string): HttpHeadError {
  return { kind: "error", status, message };
}

function quote(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
}

/** Splits a complete head into its first line and its headers, or says what is wrong. */
function splitHead(
  bytes: Uint8Array,
  status: number,
): { first: string; headers: HttpHeader[]; consumed: number } | HttpHeadError | undefined {
  const end = headEnd(bytes);
  if (end === -1) {
    if (bytes.byteLength >= MAX_HEAD_BYTES) {
      return headError(
        status === 400 ? 431 : status,
        `The request line and headers exceed ${MAX_HEAD_BYTES} bytes.`,
      );
    }
    return undefined;
  }
  const lines = latin1.decode(bytes.subarray(0, end - 4)).split("\r\n");
  const first = lines.shift() ?? "";
  if (lines.length > MAX_HEADER_COUNT) {
    return headError(status === 400 ? 431 : status, `More than ${MAX_HEADER_COUNT} headers.`);
  }
  const headers: HttpHeader[] = [];
  for (const line of lines) {
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    const value = line.slice(colon + 1).trim();
    if (!TOKEN.test(name) || !FIELD_VALUE.test(value)) {
      return headError(status, `The header line ${quote(line)} is malformed.`);
    }
    headers.push([name, value]);
  }
  return { first, headers, consumed: end };
}

/** Reads a request head from the bytes received so far. */
export function parseRequestHead(bytes: Uint8Array): HeadParse<HttpRequestHead> {
  const split = splitHead(bytes, 400);
  if (split === undefined) return { kind: "need-more" };
  if ("kind" in split) return split;
  const parts = split.first.split(" ");
  const [method = "", target = "", version = ""] = parts;
  if (parts.length !== 3 || !TOKEN.test(method) || target === "" || !VERSION.test(version)) {
    return headError(
      400,
      `The request line ${quote(split.first)} is not "METHOD target HTTP/1.1".`,
    );
  }
  if (!/^[\x21-\x7e]+$/.test(target)) {
    return headError(400, `The request target ${quote(target)} has characters a URL cannot.`);
  }
  return {
    kind: "ok",
    head: { method, target, version, headers: split.headers },
    consumed: split.consumed,
  };
}

/** Reads a response head (from upstream) from the bytes received so far; errors are 502. */
export function parseResponseHead(bytes: Uint8Array): HeadParse<HttpResponseHead> {
  const split = splitHead(bytes, 502);
  if (split === undefined) return { kind: "need-more" };
  if ("kind" in split) return split;
  const match = /^(HTTP\/1\.[01]) (\d{3})(?: (.*))?$/.exec(split.first);
  if (!match) {
    return headError(502, `The upstream status line ${quote(split.first)} is not HTTP/1.x.`);
  }
  return {
    kind: "ok",
    head: {
      version: match[1]!,
      status: Number(match[2]),
      reason: match[3] ?? "",
      headers: split.headers,
    },
    consumed: split.consumed,
  };
}

/** The values of every header named `name` (any case). */
export function headerValues(headers: readonly HttpHeader[], name: string): string[] {
  const lower = name.toLowerCase();
  return headers.filter(([key]) => key.toLowerCase() === lower).map(([, value]) => value);
}

/** The comma-separated tokens of every `name` header, lower case. */
function headerTokens(headers: readonly HttpHeader[], name: string): string[] {
  return headerValues(headers, name).flatMap((value) =>
    value.split(",").map((token) => token.trim().toLowerCase()).filter((t) => t !== "")
  );
}

/** How a message's body is delimited. */
export type BodyFraming =
  | { readonly kind: "none" }
  | { readonly kind: "length"; readonly length: number }
  | { readonly kind: "chunked" }
  | { readonly kind: "until-close" };

/** The framing of a message with `headers`, or a problem (RFC 9112 §6.3). */
function framingOf(
  headers: readonly HttpHeader[],
  noLengthMeans: BodyFraming,
): BodyFraming | string {
  const codings = headerTokens(headers, "transfer-encoding");
  const lengths = headerValues(headers, "content-length");
  if (codings.length > 0) {
    if (lengths.length > 0) return "Both Transfer-Encoding and Content-Length are set.";
    if (codings.at(-1) !== "chunked") {
      return `The Transfer-Encoding ${quote(codings.join(", "))} does not end in chunked.`;
    }
    return { kind: "chunked" };
  }
  if (lengths.length === 0) return noLengthMeans;
  const distinct = new Set(lengths.flatMap((v) => v.split(",").map((s) => s.trim())));
  const [only] = distinct;
  if (distinct.size !== 1 || only === undefined || !/^\d{1,15}$/.test(only)) {
    return `The Content-Length ${quote(lengths.join(", "))} is not one whole number.`;
  }
  const length = Number(only);
  return length === 0 ? { kind: "none" } : { kind: "length", length };
}

/** A request's body framing (no length: no body), or a problem for a 400. */
export function requestFraming(head: HttpRequestHead): BodyFraming | string {
  return framingOf(head.headers, { kind: "none" });
}

/** A response's body framing, given the request's method (RFC 9112 §6.3); or a problem. */
export function responseFraming(head: HttpResponseHead, method: string): BodyFraming | string {
  if (
    method === "HEAD" || (head.status >= 100 && head.status < 200) || head.status === 204 ||
    head.status === 304
  ) {
    return { kind: "none" };
  }
  return framingOf(head.headers, { kind: "until-close" });
}

/** True when the message asks that its connection not be kept alive. */
export function wantsClose(version: string, headers: readonly HttpHeader[]): boolean {
  const tokens = headerTokens(headers, "connection");
  if (tokens.includes("close")) return true;
  return version === "HTTP/1.0" && !tokens.includes("keep-alive");
}

/** A destination: host (IPv6 without brackets) and port. */
export interface HttpTarget {
  /** Host name or IP literal (IPv6 without brackets). */
  readonly host: string;
  /** TCP port, 1..65535. */
  readonly port: number;
}

/** An absolute-form target split for forwarding: where to, and the origin-form path. */
export interface AbsoluteTarget extends HttpTarget {
  /** `/path?query` to send upstream. */
  readonly path: string;
  /** The Host header value (`host` or `host:port`). */
  readonly authority: string;
}

const HOST_NAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?$/;
const IPV6 = /^[0-9A-Fa-f:.]{2,45}$/;

/** Splits `host[:port]` (IPv6 in brackets), or says what is wrong. */
export function parseAuthority(
  authority: string,
  defaultPort: number | undefined,
): HttpTarget | string {
  const bracketed = /^\[([^\]]*)\](?::(\d{1,5}))?$/.exec(authority);
  let host: string;
  let portText: string | undefined;
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
    if (!IPV6.test(host) || !host.includes(":")) {
      return `The address ${quote(authority)} is not an IPv6 literal.`;
    }
  } else {
    const colon = authority.lastIndexOf(":");
    host = colon === -1 ? authority : authority.slice(0, colon);
    portText = colon === -1 ? undefined : authority.slice(colon + 1);
    if (!HOST_NAME.test(host)) return `The host ${quote(host)} is not a host name or address.`;
  }
  if (portText === undefined) {
    if (defaultPort === undefined) return `The target ${quote(authority)} has no port.`;
    return { host, port: defaultPort };
  }
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) return `The port in ${quote(authority)} is not 1 to 65535.`;
  return { host, port };
}

/** The `host:port` of a CONNECT request (authority-form), or what is wrong with it. */
export function parseConnectTarget(target: string): HttpTarget | string {
  return parseAuthority(target, undefined);
}

/** An absolute-form `http://host[:port]/path` target, or what is wrong with it. */
export function parseAbsoluteTarget(target: string): AbsoluteTarget | string {
  const match = /^http:\/\/([^/?#]+)([^#]*)/i.exec(target);
  if (!match) {
    if (/^https:\/\//i.test(target)) {
      return `The target ${quote(target)} is https: ask with CONNECT (curl does with -x).`;
    }
    return `The target ${quote(target)} is not an absolute http:// URL, which a proxy needs.`;
  }
  const authority = match[1]!;
  if (authority.includes("@")) return `The target ${quote(target)} carries credentials.`;
  const parsed = parseAuthority(authority, 80);
  if (typeof parsed === "string") return parsed;
  const rest = match[2]!;
  return {
    ...parsed,
    authority,
    path: rest === "" ? "/" : rest.startsWith("/") ? rest : `/${rest}`,
  };
}

/** Hop-by-hop headers a proxy never forwards (RFC 9110 §7.6.1), lower case. */
const HOP_BY_HOP = new Set([
  "connection",
  "proxy-connection",
  "keep-alive",
  "proxy-authorization",
  "proxy-authenticate",
  "te",
  "trailer",
  "upgrade",
]);

/** `headers` without hop-by-hop ones: the fixed list and those named in `Connection`. */
export function endToEndHeaders(headers: readonly HttpHeader[]): HttpHeader[] {
  const named = new Set([...headerTokens(headers, "connection"), ...HOP_BY_HOP]);
  return headers.filter(([name]) => !named.has(name.toLowerCase()));
}

/**
 * The head sent upstream for an absolute-form request: origin-form path, the target's Host,
 * hop-by-hop headers dropped (Transfer-Encoding kept: the body is passed on as it came).
 */
export function forwardRequestHead(head: HttpRequestHead, target: AbsoluteTarget): Uint8Array {
  const headers = endToEndHeaders(head.headers).filter(([name]) => name.toLowerCase() !== "host");
  const lines = [
    `${head.method} ${target.path} ${head.version}`,
    `Host: ${target.authority}`,
    ...headers.map(([name, value]) => `${name}: ${value}`),
  ];
  return latin1Bytes(`${lines.join("\r\n")}\r\n\r\n`);
}

/**
 * The response head sent to the client: hop-by-hop headers dropped, and `Connection: close`
 * when the proxy will close after it.
 */
export function forwardResponseHead(head: HttpResponseHead, close: boolean): Uint8Array {
  const lines = [
    `${head.version} ${head.status} ${head.reason}`.trimEnd(),
    ...endToEndHeaders(head.headers).map(([name, value]) => `${name}: ${value}`),
    ...(close ? ["Connection: close"] : []),
  ];
  return latin1Bytes(`${lines.join("\r\n")}\r\n\r\n`);
}

function latin1Bytes(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i) & 0xff;
  return bytes;
}

/** `Proxy-Authorization: Basic` credentials: absent, read, or malformed (with the reason). */
export type ProxyCredentials =
  | { readonly kind: "none" }
  | { readonly kind: "basic"; readonly username: string; readonly password: string }
  | { readonly kind: "malformed"; readonly message: string };

/** Reads the request's `Proxy-Authorization` header. */
export function proxyCredentials(headers: readonly HttpHeader[]): ProxyCredentials {
  const values = headerValues(headers, "proxy-authorization");
  if (values.length === 0) return { kind: "none" };
  if (values.length > 1) return { kind: "malformed", message: "Proxy-Authorization is repeated." };
  const match = /^Basic +([A-Za-z0-9+/]+={0,2})$/i.exec(values[0]!);
  if (!match) {
    return { kind: "malformed", message: "Proxy-Authorization is not Basic <base64>." };
  }
  let decoded: string;
  try {
    const binary = atob(match[1]!);
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    decoded = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return { kind: "malformed", message: "Proxy-Authorization is not base64 of UTF-8 text." };
  }
  const colon = decoded.indexOf(":");
  if (colon === -1) {
    return {
      kind: "malformed",
      message: "Proxy-Authorization has no ':' between user and password.",
    };
  }
  return { kind: "basic", username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Reason phrases of the statuses a proxy answers itself. */
const REASONS: Readonly<Record<number, string>> = {
  200: "Connection established",
  400: "Bad Request",
  403: "Forbidden",
  405: "Method Not Allowed",
  407: "Proxy Authentication Required",
  431: "Request Header Fields Too Large",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/**
 * A response the proxy answers itself: the status, a one-line text body naming the cause,
 * `extra` headers. `close` adds `Connection: close`.
 *
 * @example
 * ```ts
 * statusResponse(407, "This port needs a username and password.", {
 *   extra: [["Proxy-Authenticate", 'Basic realm="p2proxy"']],
 * });
 * ```
 */
export function statusResponse(
  status: number,
  message: string,
  options: { readonly extra?: readonly HttpHeader[]; readonly close?: boolean } = {},
): Uint8Array {
  const body = encoder.encode(`${message.replaceAll(/[\r\n]+/g, " ")}\n`);
  const lines = [
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}`,
    ...(options.extra ?? []).map(([name, value]) => `${name}: ${value}`),
    "Content-Type: text/plain; charset=utf-8",
    `Content-Length: ${body.byteLength}`,
    ...(options.close ? ["Connection: close"] : []),
  ];
  const head = latin1Bytes(`${lines.join("\r\n")}\r\n\r\n`);
  const out = new Uint8Array(head.byteLength + body.byteLength);
  out.set(head);
  out.set(body, head.byteLength);
  return out;
}

/** The answer to a CONNECT once the exit connected. */
export const CONNECT_ESTABLISHED: Uint8Array = latin1Bytes(
  "HTTP/1.1 200 Connection established\r\n\r\n",
);

/**
 * Follows a chunked body as its bytes pass through unchanged (the proxy forwards chunked bodies
 * as they came): tells where the body ends, and refuses a malformed or oversized framing line.
 *
 * @example
 * ```ts
 * const tracker = new ChunkedTracker();
 * tracker.feed(bytes); // { used: n, done: true } once the last chunk and trailers passed
 * ```
 */
export class ChunkedTracker {
  #state: "size" | "data" | "data-cr" | "data-lf" | "trailer" = "size";
  #line = "";
  #remaining = 0;
  #trailerBytes = 0;
  #done = false;

  /** True once the whole body passed. */
  get done(): boolean {
    return this.#done;
  }

  /**
   * Consumes `bytes`: how many belong to the body (the rest is the next message), whether it
   * ended, or a problem.
   */
  feed(bytes: Uint8Array): { used: number; done: boolean } | { error: string } {
    let i = 0;
    while (i < bytes.byteLength && !this.#done) {
      switch (this.#state) {
        case "data": {
          const take = Math.min(this.#remaining, bytes.byteLength - i);
          i += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#state = "data-cr";
          break;
        }
        case "data-cr":
          if (bytes[i++] !== 0x0d) return { error: "A chunk is not followed by CRLF." };
          this.#state = "data-lf";
          break;
        case "data-lf":
          if (bytes[i++] !== 0x0a) return { error: "A chunk is not followed by CRLF." };
          this.#state = "size";
          break;
        case "size":
        case "trailer": {
          const byte = bytes[i++]!;
          if (byte !== 0x0a) {
            this.#line += String.fromCharCode(byte);
            if (this.#line.length > MAX_CHUNK_LINE_BYTES) {
              return { error: `A chunk framing line exceeds ${MAX_CHUNK_LINE_BYTES} bytes.` };
            }
            if (this.#state === "trailer" && ++this.#trailerBytes > MAX_TRAILER_BYTES) {
              return { error: `The trailers exceed ${MAX_TRAILER_BYTES} bytes.` };
            }
            break;
          }
          if (!this.#line.endsWith("\r")) return { error: "A chunk line does not end in CRLF." };
          const line = this.#line.slice(0, -1);
          this.#line = "";
          if (this.#state === "trailer") {
            if (line === "") this.#done = true;
            break;
          }
          const size = /^([0-9A-Fa-f]{1,12})(?:[ \t]*;.*)?$/.exec(line);
          if (!size) return { error: `The chunk size line ${quote(line)} is malformed.` };
          this.#remaining = parseInt(size[1]!, 16);
          this.#state = this.#remaining === 0 ? "trailer" : "data";
          break;
        }
      }
    }
    return { used: i, done: this.#done };
  }
}
