/**
 * SOCKS4 and SOCKS4a codec (the 1990s NEC protocol and its 4a name extension), pure and
 * bounded: a CONNECT request — `04 01 port ip userid 00` with, for 4a (ip `0.0.0.x`, x ≠ 0), the
 * host name after it — and the 8-byte reply (`00 5A` granted, `00 5B` rejected).
 *
 * @example
 * ```ts
 * const result = parseSocks4Request(bytes);
 * if (result.kind === "ok") result.value.host; // "dest.test" (4a) or "192.0.2.1"
 * ```
 *
 * @module
 */
import { P2proxyError } from "../errors.ts";

/** The version byte every SOCKS4 request starts with. */
export const SOCKS4_VERSION = 0x04;

/** Reply codes: granted, and rejected or failed (all the door sends). */
export const SOCKS4_REPLY = { granted: 0x5a, rejected: 0x5b } as const;

/** Longest user id or 4a host name read (then the request is refused). */
export const MAX_SOCKS4_FIELD_BYTES = 255;

/** Longest request: header, user id, host name, their terminators. */
export const MAX_SOCKS4_REQUEST_BYTES: number = 8 + 2 * (MAX_SOCKS4_FIELD_BYTES + 1);

/** A parsed SOCKS4/4a request. */
export interface Socks4Request {
  /** `connect` (1) or `bind` (2). */
  readonly command: "connect" | "bind";
  /** An IPv4 address, or the 4a host name. */
  readonly host: string;
  /** The destination port. */
  readonly port: number;
  /** The user id (the username grammar reads it). */
  readonly userId: string;
}

/** A request that cannot be served; the door answers `5B` and closes. */
export class Socks4Error extends P2proxyError<"malformed" | "too-long"> {}

/** The outcome of {@link parseSocks4Request}. */
export type Socks4Parse =
  | { readonly kind: "need-more" }
  | { readonly kind: "ok"; readonly value: Socks4Request; readonly consumed: number };

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Reads a NUL-terminated field at `from`; undefined when its NUL has not come yet. */
function field(
  bytes: Uint8Array,
  from: number,
  name: string,
): { text: string; next: number } | undefined {
  const limit = Math.min(bytes.byteLength, from + MAX_SOCKS4_FIELD_BYTES + 1);
  for (let i = from; i < limit; i++) {
    if (bytes[i] !== 0) continue;
    try {
      return { text: utf8.decode(bytes.subarray(from, i)), next: i + 1 };
    } catch (cause) {
      throw new Socks4Error("malformed", `The SOCKS4 ${name} is not UTF-8 text.`, { cause });
    }
  }
  if (bytes.byteLength - from > MAX_SOCKS4_FIELD_BYTES) {
    throw new Socks4Error(
      "too-long",
      `The SOCKS4 ${name} is longer than ${MAX_SOCKS4_FIELD_BYTES} bytes.`,
    );
  }
  return undefined;
}

/**
 * Parses a SOCKS4/4a request from the bytes received so far: `need-more`, the request and its
 * length, or a {@link Socks4Error}.
 */
export function parseSocks4Request(bytes: Uint8Array): Socks4Parse {
  if (bytes.byteLength < 8) return { kind: "need-more" };
  if (bytes[0] !== SOCKS4_VERSION) {
    throw new Socks4Error("malformed", `The SOCKS version byte is ${bytes[0]}, not 4.`);
  }
  const code = bytes[1]!;
  if (code !== 1 && code !== 2) {
    throw new Socks4Error("malformed", `The SOCKS4 command ${code} is neither 1 nor 2.`);
  }
  const port = (bytes[2]! << 8) | bytes[3]!;
  const ip = [...bytes.subarray(4, 8)];
  const user = field(bytes, 8, "user id");
  if (user === undefined) return { kind: "need-more" };
  let host = ip.join(".");
  let next = user.next;
  if (ip[0] === 0 && ip[1] === 0 && ip[2] === 0 && ip[3] !== 0) {
    const name = field(bytes, next, "host name");
    if (name === undefined) return { kind: "need-more" };
    if (!/^[A-Za-z0-9_.:-]{1,253}$/.test(name.text)) {
      throw new Socks4Error(
        "malformed",
        `The SOCKS4a host ${JSON.stringify(name.text)} is not a host name.`,
      );
    }
    host = name.text;
    next = name.next;
  }
  if (port === 0) throw new Socks4Error("malformed", "The SOCKS4 request asks for port 0.");
  return {
    kind: "ok",
    value: { command: code === 1 ? "connect" : "bind", host, port, userId: user.text },
    consumed: next,
  };
}

/**
 * The 8-byte reply: `00`, the code, the port and IPv4 address (zero unless known).
 *
 * @example
 * ```ts
 * encodeSocks4Reply(SOCKS4_REPLY.granted); // 00 5A 00 00 00 00 00 00
 * ```
 */
export function encodeSocks4Reply(code: number, port = 0, ipv4 = "0.0.0.0"): Uint8Array {
  const parts = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ipv4);
  const ip = parts ? parts.slice(1).map((p) => Number(p) & 0xff) : [0, 0, 0, 0];
  return Uint8Array.of(0, code, (port >> 8) & 0xff, port & 0xff, ...ip);
}

/** A SOCKS4a CONNECT request (for tests and clients). */
export function encodeSocks4Request(host: string, port: number, userId = ""): Uint8Array {
  const encoder = new TextEncoder();
  const ip = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  const user = encoder.encode(userId);
  const head = [SOCKS4_VERSION, 1, (port >> 8) & 0xff, port & 0xff];
  if (ip) return Uint8Array.of(...head, ...ip.slice(1).map(Number), ...user, 0);
  return Uint8Array.of(...head, 0, 0, 0, 1, ...user, 0, ...encoder.encode(host), 0);
}
