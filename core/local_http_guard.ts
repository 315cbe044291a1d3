/**
 * The checks a loopback-only HTTP endpoint (the metrics port and the proxy's
 * admin API on it) makes before it reads a request, so that a web page the
 * user happens to visit cannot drive or read it:
 *
 * - the `Host` must be a loopback name of the listener (`localhost`,
 *   127.0.0.0/8, `[::1]`, with the listener's port or none). A page that
 *   rebinds its own DNS name to 127.0.0.1 still sends its own name;
 * - no `Origin`: browsers send it on cross-site requests (and every POST);
 *   curl, scripts and Prometheus send none;
 * - a bearer token, when one is configured, compared in constant time;
 * - a JSON body type: a page can POST `text/plain` across sites without a
 *   CORS preflight, never `application/json`.
 *
 * @module
 */
import { isLoopbackAddress } from "./config/common.ts";
import { constantTimeEqualText } from "./constant_time.ts";
import { isIpAddressLiteral } from "./domain/egress_policy.ts";

/** Longest `Host` value parsed: a 253-character name, brackets and `:65535` fit. */
export const MAX_HOST_HEADER_CHARS = 270;

/** Longest value quoted whole in a refusal; the rest is elided. */
const MAX_QUOTED_CHARS = 64;

/** Why a request was refused before it was read. */
export type LocalRequestRefusalCode =
  /** The `Host` header is missing or is not a loopback name of the listener (DNS rebinding). */
  | "not-loopback-host"
  /** An `Origin` header: a browser sent it on behalf of a web page. */
  | "cross-origin";

/** A refusal: its code and a sentence for the response body. */
export interface LocalRequestRefusal {
  /** Which check failed. */
  readonly code: LocalRequestRefusalCode;
  /** A sentence for the response body, quoting the offending header value. */
  readonly message: string;
}

/** The request headers the checks read (a `Headers` object fits). */
export interface HeaderSource {
  /** The header's value, or null when absent (as `Headers.get`). */
  get(name: string): string | null;
}

/**
 * Why a request to a loopback listener on `listenerPort` must be refused
 * (answer 403 without reading its body), or undefined to serve it.
 *
 * @example
 * ```ts
 * localRequestRefusal(new Headers({ host: "127.0.0.1:9091" }), 9091); // undefined
 * localRequestRefusal(new Headers({ host: "evil.example:9091" }), 9091)?.code; // "not-loopback-host"
 * ```
 */
export function localRequestRefusal(
  headers: HeaderSource,
  listenerPort: number,
): LocalRequestRefusal | undefined {
  const origin = headers.get("origin");
  if (origin !== null) {
    return {
      code: "cross-origin",
      message: `Refused: the request carries Origin ${quote(origin)}, so a web page sent it. ` +
        "This endpoint serves local tools (curl, scripts, Prometheus) only.",
    };
  }
  const host = headers.get("host");
  if (host === null || !isLoopbackHost(host, listenerPort)) {
    const got = host === null ? "no Host header" : `Host ${quote(host)}`;
    return {
      code: "not-loopback-host",
      message: `Refused: ${got}; this endpoint answers only to localhost, 127.0.0.1 or [::1] ` +
        `(with port ${listenerPort} or none), which guards it against DNS rebinding.`,
    };
  }
  return undefined;
}

/**
 * True when `host` (a `Host` header value) names this machine's loopback
 * listener on `listenerPort`: `localhost`, a canonical 127.0.0.0/8 address,
 * or `[::1]`, followed by `:<listenerPort>` or nothing. Names that merely
 * end in `localhost` are refused: only the exact name is certain.
 *
 * @example
 * ```ts
 * isLoopbackHost("localhost:9091", 9091); // true
 * isLoopbackHost("[::1]", 9091); // true
 * isLoopbackHost("127.0.0.1:80", 9091); // false: another port
 * ```
 */
export function isLoopbackHost(host: string, listenerPort: number): boolean {
  if (host.length === 0 || host.length > MAX_HOST_HEADER_CHARS) return false;
  const split = splitHost(host);
  if (split === undefined) return false;
  if (split.port !== undefined && split.port !== listenerPort) return false;
  return isLoopbackName(split.name, split.bracketed);
}

/** `name[:port]` or `[v6][:port]` taken apart; undefined when malformed. */
function splitHost(
  host: string,
): { name: string; bracketed: boolean; port: number | undefined } | undefined {
  if (host.startsWith("[")) {
    const close = host.indexOf("]");
    if (close === -1) return undefined;
    const port = portOf(host.slice(close + 1));
    if (port === null) return undefined;
    return { name: host.slice(1, close), bracketed: true, port };
  }
  const colon = host.indexOf(":");
  if (colon === -1) return { name: host, bracketed: false, port: undefined };
  const port = portOf(host.slice(colon));
  if (port === null || port === undefined) return undefined;
  return { name: host.slice(0, colon), bracketed: false, port };
}

/** `""` → undefined (no port); `:<decimal>` → the port; anything else → null. */
function portOf(rest: string): number | undefined | null {
  if (rest === "") return undefined;
  const digits = /^:([1-9][0-9]{0,4})$/.exec(rest)?.[1];
  if (digits === undefined) return null;
  const port = Number(digits);
  return port <= 65_535 ? port : null;
}

function isLoopbackName(name: string, bracketed: boolean): boolean {
  if (bracketed) return name.includes(":") && isIpAddressLiteral(name) && isLoopbackAddress(name);
  if (name.toLowerCase() === "localhost") return true;
  return !name.includes(":") && isIpAddressLiteral(name) && isLoopbackAddress(name);
}

/**
 * True when `authorization` (an `Authorization` header value) is
 * `Bearer <token>` with exactly `token`. The scheme is case-insensitive
 * (RFC 7235); the token is compared in constant time.
 *
 * @example
 * ```ts
 * bearerTokenMatches("Bearer s3cret-s3cret-s3cret", "s3cret-s3cret-s3cret"); // true
 * bearerTokenMatches(null, "s3cret-s3cret-s3cret"); // false
 * ```
 */
export function bearerTokenMatches(authorization: string | null, token: string): boolean {
  const presented = /^bearer +(\S+) *$/i.exec(authorization ?? "")?.[1] ?? "";
  // Compared even when absent, so a missing header takes as long as a wrong one.
  return constantTimeEqualText(presented, token) && presented !== "";
}

/**
 * True for `application/json`, with or without parameters (`; charset=utf-8`),
 * in any case: the only body type the admin API reads.
 *
 * @example
 * ```ts
 * isJsonContentType("application/json; charset=utf-8"); // true
 * isJsonContentType("text/plain"); // false
 * ```
 */
export function isJsonContentType(contentType: string | null): boolean {
  if (contentType === null) return false;
  const mediaType = contentType.split(";", 1)[0]?.trim().toLowerCase();
  return mediaType === "application/json";
}

/** A header value JSON-quoted (no control characters reach a log or body) and cut short. */
function quote(value: string): string {
  return JSON.stringify(
    value.length > MAX_QUOTED_CHARS ? `${value.slice(0, MAX_QUOTED_CHARS)}…` : value,
  );
}
