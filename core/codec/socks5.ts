/**
 * SOCKS5 wire codec (RFC 1928, RFC 1929 username/password), pure and
 * incremental: every parser takes the bytes received so far and answers
 * "need more", a value with the number of bytes it used, or throws
 * {@link Socks5Error}. Nothing here touches a socket, so the session code
 * decides timeouts and what to send back.
 *
 * A parser never looks past the message it parses: clients that pipeline
 * (greeting, credentials and request in one write) get the rest back through
 * `consumed`.
 *
 * @example Server side of a greeting
 * ```ts
 * const result = parseGreeting(bytes);
 * if (result.kind === "ok") {
 *   const method = selectMethod(result.value.methods, false);
 *   reply(encodeMethodSelection(method)); // 05 00, or 05 FF then close
 * }
 * ```
 *
 * @module
 */
import ipaddr from "ipaddr.js";
import { P2proxyError } from "../errors.ts";

/** The protocol version byte of every SOCKS5 message except the RFC 1929 sub-negotiation. */
export const SOCKS_VERSION = 0x05;

/** The version byte of the RFC 1929 username/password sub-negotiation. */
export const USERPASS_VERSION = 0x01;

/** Authentication method numbers (RFC 1928 §3). */
export const AUTH_METHOD = {
  noAuth: 0x00,
  gssapi: 0x01,
  userPass: 0x02,
  noAcceptable: 0xff,
} as const;

/** Reply codes (RFC 1928 §6, field REP). The connect protocol's status uses the same numbers. */
export const SOCKS_REPLY = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  ttlExpired: 0x06,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;

/** The RFC 1929 status byte for a successful authentication; any other value is a failure. */
export const USERPASS_STATUS_SUCCESS = 0x00;

/** The status byte this codec sends for a failed authentication. */
export const USERPASS_STATUS_FAILURE = 0x01;

/** A one-byte length field caps domains, usernames and passwords (RFC 1928 §5, RFC 1929 §2). */
export const MAX_FIELD_BYTES = 255;

/** VER + NMETHODS + up to 255 methods. */
export const MAX_GREETING_BYTES: number = 2 + MAX_FIELD_BYTES;

/** VER + ULEN + UNAME + PLEN + PASSWD, each field at most 255 bytes. */
export const MAX_USERPASS_BYTES: number = 3 + 2 * MAX_FIELD_BYTES;

/** VER + CMD + RSV + ATYP + (LEN + 255-byte domain) + PORT: the longest request or reply. */
export const MAX_REQUEST_BYTES: number = 4 + 1 + MAX_FIELD_BYTES + 2;

/** A reply has the same layout as a request. */
export const MAX_REPLY_BYTES: number = MAX_REQUEST_BYTES;

/** SOCKS5 commands by name. */
export type Socks5Command = "connect" | "bind" | "udp-associate";

/** Address types by name (ATYP 0x01, 0x03, 0x04). */
export type Socks5AddressType = "ipv4" | "domain" | "ipv6";

const COMMAND_CODE: Readonly<Record<Socks5Command, number>> = {
  connect: 0x01,
  bind: 0x02,
  "udp-associate": 0x03,
};

const COMMAND_BY_CODE: ReadonlyMap<number, Socks5Command> = new Map(
  Object.entries(COMMAND_CODE).map(([name, code]) => [code, name as Socks5Command]),
);

const ATYP_IPV4 = 0x01;
const ATYP_DOMAIN = 0x03;
const ATYP_IPV6 = 0x04;
const IPV4_BYTES = 4;
const IPV6_BYTES = 16;
const PORT_BYTES = 2;
const MAX_PORT = 65535;

/** Why a SOCKS5 message was rejected. */
export type Socks5ErrorCode =
  /** VER is not 5 (or not 1 in a username/password reply). */
  | "bad-version"
  /** A greeting offers no method at all. */
  | "no-methods"
  /** The username/password sub-negotiation does not start with version 1. */
  | "bad-auth-version"
  /** A value to encode does not fit its one-byte length field. */
  | "field-too-long"
  /** A value to encode is empty where the RFC requires at least one byte. */
  | "empty-field"
  /** CMD is not CONNECT, BIND or UDP ASSOCIATE. */
  | "bad-command"
  /** ATYP is not IPv4, domain or IPv6. */
  | "bad-address-type"
  /** A domain is empty, not UTF-8, or contains control characters. */
  | "bad-domain"
  /** A host or address to encode is not a valid IP literal or domain. */
  | "bad-address"
  /** A port to encode is not an integer in 0..65535. */
  | "bad-port"
  /** Any other malformed input (invalid UTF-8 credentials, a value that is not a byte). */
  | "malformed";

/** Options of a {@link Socks5Error}. */
export interface Socks5ErrorOptions extends ErrorOptions {
  /** The REP code to send to the client before closing, when a reply is due. */
  readonly replyCode?: number;
}

/** A SOCKS5 message that cannot be parsed or a value that cannot be encoded. */
export class Socks5Error extends P2proxyError<Socks5ErrorCode> {
  /**
   * The reply code to send before closing, when the RFC has one
   * (0x07 for an unknown command, 0x08 for an unknown address type, 0x01 for
   * a bad domain); undefined when no reply is due (greeting, credentials, a
   * wrong version) and on the client side.
   */
  readonly replyCode: number | undefined;

  /** Creates an error; `options.replyCode` is the REP byte to answer with, if any. */
  constructor(code: Socks5ErrorCode, message: string, options?: Socks5ErrorOptions) {
    super(code, message, options);
    this.replyCode = options?.replyCode;
  }
}

/**
 * The outcome of an incremental parse: not enough bytes yet, or a value and
 * the number of bytes it took from the front of the buffer.
 */
export type ParseResult<T> =
  | {
    readonly kind: "need-more";
    /** Total buffer length needed before parsing can progress (a lower bound on the message). */
    readonly min?: number;
  }
  | {
    readonly kind: "ok";
    /** The parsed message. */
    readonly value: T;
    /** Bytes of the buffer the message took; anything after belongs to the next message. */
    readonly consumed: number;
  };

/** A client greeting (RFC 1928 §3). */
export interface Socks5Greeting {
  /** Always 5: other versions are rejected. */
  readonly version: 5;
  /** Method numbers in the client's order; may contain duplicates. */
  readonly methods: number[];
}

/** RFC 1929 credentials. */
export interface Socks5Credentials {
  /** UNAME, UTF-8 decoded; may be empty. */
  readonly username: string;
  /** PASSWD, UTF-8 decoded; may be empty. */
  readonly password: string;
}

/** A client request (RFC 1928 §4). */
export interface Socks5Request {
  /** The command by name. */
  readonly command: Socks5Command;
  /** The CMD byte as received. */
  readonly commandCode: number;
  /** IPv4 dotted quad, IPv6 in RFC 5952 form without brackets, or a domain (UTF-8, unresolved). */
  readonly host: string;
  /** DST.PORT, 0..65535 (0 is passed through; the caller decides). */
  readonly port: number;
  /** Which ATYP carried the host. */
  readonly addressType: Socks5AddressType;
}

/** A server reply (RFC 1928 §6), as a client reads it. */
export interface Socks5Reply {
  /** REP: 0 is success, see {@link SOCKS_REPLY}. */
  readonly code: number;
  /** BND.ADDR, rendered like {@link Socks5Request.host}. */
  readonly host: string;
  /** BND.PORT. */
  readonly port: number;
  /** Which ATYP carried the host. */
  readonly addressType: Socks5AddressType;
}

/** The method the server chose (RFC 1928 §3), as a client reads it. */
export interface Socks5MethodSelection {
  /** METHOD; {@link AUTH_METHOD.noAcceptable} means the server will close. */
  readonly method: number;
}

/** The RFC 1929 status, as a client reads it. */
export interface Socks5UserPassStatus {
  /** True when STATUS is 0. */
  readonly ok: boolean;
  /** STATUS as received. */
  readonly status: number;
}

/** A host and port to encode into a request or reply. */
export interface Socks5Endpoint {
  /** An IPv4 or IPv6 literal (brackets optional) or a domain name. */
  readonly host: string;
  /** 0..65535. */
  readonly port: number;
}

/** What {@link encodeRequest} sends. A numeric command is sent as is (tests use unknown ones). */
export interface Socks5RequestInit extends Socks5Endpoint {
  /** A command name, or a raw CMD byte. */
  readonly command: Socks5Command | number;
}

const utf8Decoder = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

function needMore<T>(min: number): ParseResult<T> {
  return { kind: "need-more", min };
}

function parsed<T>(value: T, consumed: number): ParseResult<T> {
  return { kind: "ok", value, consumed };
}

function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, "0").toUpperCase()}`;
}

/** Explains the common ways a non-SOCKS5 client ends up on a SOCKS5 port. */
function versionHint(version: number): string {
  if (version === 0x04) return "SOCKS4 is not supported; configure the client for SOCKS5.";
  // "C" of CONNECT, "G" of GET, "P" of POST...: an HTTP proxy client.
  if (version >= 0x41 && version <= 0x5a) {
    return "this looks like HTTP; configure the client for SOCKS5 (e.g. curl --socks5-hostname).";
  }
  if (version === 0x16) return "this looks like TLS; configure the client for SOCKS5.";
  return "configure the client for SOCKS5.";
}

function assertSocksVersion(version: number, what: string): void {
  if (version === SOCKS_VERSION) return;
  throw new Socks5Error(
    "bad-version",
    `SOCKS ${what} has version ${hex(version)}, expected 0x05: ${versionHint(version)}`,
  );
}

/** Parses a client greeting: VER, NMETHODS, METHODS. */
export function parseGreeting(buf: Uint8Array): ParseResult<Socks5Greeting> {
  if (buf.length < 1) return needMore(2);
  assertSocksVersion(buf[0]!, "greeting");
  if (buf.length < 2) return needMore(2);
  const count = buf[1]!;
  if (count === 0) {
    throw new Socks5Error(
      "no-methods",
      "SOCKS greeting offers no authentication method (NMETHODS is 0); the client must offer at least one.",
    );
  }
  const total = 2 + count;
  if (buf.length < total) return needMore(total);
  return parsed({ version: SOCKS_VERSION, methods: [...buf.subarray(2, total)] }, total);
}

/**
 * Picks the method to answer a greeting with: USERNAME/PASSWORD when the
 * server has users, NO AUTH when it has none (docs/proxy-behaviour.md#handshake), and
 * {@link AUTH_METHOD.noAcceptable} (0xFF, then close) when the client did not
 * offer the one the server needs.
 */
export function selectMethod(methods: readonly number[], requireUserPass: boolean): number {
  const wanted = requireUserPass ? AUTH_METHOD.userPass : AUTH_METHOD.noAuth;
  return methods.includes(wanted) ? wanted : AUTH_METHOD.noAcceptable;
}

function decodeCredential(bytes: Uint8Array, field: string): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch (cause) {
    throw new Socks5Error(
      "malformed",
      `SOCKS ${field} is not valid UTF-8 (${bytes.length} bytes); configure the client with a UTF-8 ${field}.`,
      { cause },
    );
  }
}

/**
 * Parses an RFC 1929 username/password request: VER (1), ULEN, UNAME, PLEN,
 * PASSWD. The RFC asks for 1..255 bytes per field, but empty fields are
 * accepted (clients such as curl send PLEN 0 for an empty password) and left
 * to the credential check to refuse.
 */
export function parseUserPass(buf: Uint8Array): ParseResult<Socks5Credentials> {
  if (buf.length < 1) return needMore(2);
  const version = buf[0]!;
  if (version !== USERPASS_VERSION) {
    throw new Socks5Error(
      "bad-auth-version",
      `SOCKS username/password request has version ${hex(version)}, expected 0x01 (RFC 1929); ` +
        "the client does not speak username/password authentication.",
    );
  }
  if (buf.length < 2) return needMore(2);
  const usernameEnd = 2 + buf[1]!;
  if (buf.length < usernameEnd + 1) return needMore(usernameEnd + 1);
  const passwordEnd = usernameEnd + 1 + buf[usernameEnd]!;
  if (buf.length < passwordEnd) return needMore(passwordEnd);
  const username = decodeCredential(buf.subarray(2, usernameEnd), "username");
  const password = decodeCredential(buf.subarray(usernameEnd + 1, passwordEnd), "password");
  return parsed({ username, password }, passwordEnd);
}

/** The reply code a server sends for an error, or none on the client side. */
function replyOption(serverSide: boolean, replyCode: number): Socks5ErrorOptions | undefined {
  return serverSide ? { replyCode } : undefined;
}

/** How many bytes the address takes after ATYP, or "need-more" while the domain length is unknown. */
function addressLength(
  buf: Uint8Array,
  atypOffset: number,
  serverSide: boolean,
): number | "need-more" {
  const atyp = buf[atypOffset]!;
  if (atyp === ATYP_IPV4) return IPV4_BYTES;
  if (atyp === ATYP_IPV6) return IPV6_BYTES;
  if (atyp !== ATYP_DOMAIN) {
    throw new Socks5Error(
      "bad-address-type",
      `SOCKS address type ${
        hex(atyp)
      } is not supported; use IPv4 (0x01), a domain (0x03) or IPv6 (0x04).`,
      replyOption(serverSide, SOCKS_REPLY.addressTypeNotSupported),
    );
  }
  if (buf.length < atypOffset + 2) return "need-more";
  const length = buf[atypOffset + 1]!;
  if (length === 0) {
    throw new Socks5Error(
      "bad-domain",
      "SOCKS domain name is empty (length 0); send a host name or an IP address.",
      replyOption(serverSide, SOCKS_REPLY.generalFailure),
    );
  }
  return 1 + length;
}

/** True for C0 controls, DEL and C1 controls: never part of a host name. */
function hasControlCharacter(text: string): boolean {
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return true;
  }
  return false;
}

function decodeDomain(bytes: Uint8Array, serverSide: boolean): string {
  const options = replyOption(serverSide, SOCKS_REPLY.generalFailure);
  let domain: string;
  try {
    domain = utf8Decoder.decode(bytes);
  } catch (cause) {
    throw new Socks5Error(
      "bad-domain",
      `SOCKS domain name is not valid UTF-8 (${bytes.length} bytes); send an ASCII or punycode host name.`,
      { ...options, cause },
    );
  }
  if (hasControlCharacter(domain)) {
    throw new Socks5Error(
      "bad-domain",
      `SOCKS domain name ${JSON.stringify(domain)} contains a NUL or control character; ` +
        "send a plain host name.",
      options,
    );
  }
  return domain;
}

interface DecodedAddress {
  readonly host: string;
  readonly addressType: Socks5AddressType;
}

/** Decodes ATYP + address at `offset`; the caller has checked that all bytes are present. */
function decodeAddress(
  buf: Uint8Array,
  offset: number,
  serverSide: boolean,
): DecodedAddress {
  const atyp = buf[offset]!;
  const start = offset + 1;
  if (atyp === ATYP_IPV4) {
    return { host: buf.subarray(start, start + IPV4_BYTES).join("."), addressType: "ipv4" };
  }
  if (atyp === ATYP_IPV6) {
    const bytes = [...buf.subarray(start, start + IPV6_BYTES)];
    const address = ipaddr.fromByteArray(bytes) as ipaddr.IPv6;
    return { host: address.toRFC5952String(), addressType: "ipv6" };
  }
  const length = buf[start]!;
  return {
    host: decodeDomain(buf.subarray(start + 1, start + 1 + length), serverSide),
    addressType: "domain",
  };
}

function readPort(buf: Uint8Array, offset: number): number {
  return (buf[offset]! << 8) | buf[offset + 1]!;
}

/** The shared layout of requests and replies: VER, CMD/REP, RSV, ATYP, ADDR, PORT. */
interface AddressedMessage {
  readonly second: number;
  readonly end: number;
  /** Decodes the address; separate so that a command check can come first. */
  readonly address: () => DecodedAddress;
  readonly port: number;
}

function parseAddressed(
  buf: Uint8Array,
  what: string,
  serverSide: boolean,
): ParseResult<AddressedMessage> {
  const header = 4;
  if (buf.length < 1) return needMore(header + 1);
  assertSocksVersion(buf[0]!, what);
  if (buf.length < header) return needMore(header + 1);
  const length = addressLength(buf, 3, serverSide);
  if (length === "need-more") return needMore(header + 2);
  const end = header + length + PORT_BYTES;
  if (buf.length < end) return needMore(end);
  return parsed({
    second: buf[1]!,
    end,
    address: () => decodeAddress(buf, 3, serverSide),
    port: readPort(buf, end - PORT_BYTES),
  }, end);
}

/**
 * Parses a client request. RSV is ignored. An unknown CMD is reported only
 * once the whole request has arrived (error `bad-command`, reply 0x07), so
 * the server can answer and close without unread bytes turning its close
 * into a reset; an unknown ATYP fails at once (`bad-address-type`, reply
 * 0x08) because the message length is then unknowable. BIND and UDP
 * ASSOCIATE parse fine: refusing them is the caller's decision.
 */
export function parseRequest(buf: Uint8Array): ParseResult<Socks5Request> {
  const result = parseAddressed(buf, "request", true);
  if (result.kind === "need-more") return result;
  const { second: commandCode, address, port, end } = result.value;
  const command = COMMAND_BY_CODE.get(commandCode);
  if (command === undefined) {
    throw new Socks5Error(
      "bad-command",
      `SOCKS command ${hex(commandCode)} is not supported; use CONNECT (0x01).`,
      { replyCode: SOCKS_REPLY.commandNotSupported },
    );
  }
  const { host, addressType } = address();
  return parsed({ command, commandCode, host, port, addressType }, end);
}

/** Parses a server reply (client side). */
export function parseReply(buf: Uint8Array): ParseResult<Socks5Reply> {
  const result = parseAddressed(buf, "reply", false);
  if (result.kind === "need-more") return result;
  const { second: code, address, port, end } = result.value;
  const { host, addressType } = address();
  return parsed({ code, host, port, addressType }, end);
}

/** Parses the server's method selection (client side): VER, METHOD. */
export function parseMethodSelection(buf: Uint8Array): ParseResult<Socks5MethodSelection> {
  if (buf.length < 1) return needMore(2);
  assertSocksVersion(buf[0]!, "method selection");
  if (buf.length < 2) return needMore(2);
  return parsed({ method: buf[1]! }, 2);
}

/** Parses the RFC 1929 status (client side): VER (1), STATUS (0 = success). */
export function parseUserPassStatus(buf: Uint8Array): ParseResult<Socks5UserPassStatus> {
  if (buf.length < 1) return needMore(2);
  const version = buf[0]!;
  if (version !== USERPASS_VERSION) {
    throw new Socks5Error(
      "bad-auth-version",
      `SOCKS username/password status has version ${hex(version)}, expected 0x01 (RFC 1929).`,
    );
  }
  if (buf.length < 2) return needMore(2);
  const status = buf[1]!;
  return parsed({ ok: status === USERPASS_STATUS_SUCCESS, status }, 2);
}

function assertByte(value: number, what: string): void {
  if (Number.isInteger(value) && value >= 0 && value <= 0xff) return;
  throw new Socks5Error("malformed", `SOCKS ${what} ${value} is not a byte (0..255).`);
}

function assertPort(port: number): void {
  if (Number.isInteger(port) && port >= 0 && port <= MAX_PORT) return;
  throw new Socks5Error("bad-port", `Port ${port} is not an integer in 0..65535.`);
}

/** UTF-8 bytes of a length-prefixed field, checked against 1..255 (RFC 1929 §2). */
function fieldBytes(value: string, what: string): Uint8Array {
  const bytes = utf8Encoder.encode(value);
  if (bytes.length === 0) {
    throw new Socks5Error("empty-field", `SOCKS ${what} is empty; RFC 1929 needs 1 to 255 bytes.`);
  }
  if (bytes.length > MAX_FIELD_BYTES) {
    throw new Socks5Error(
      "field-too-long",
      `SOCKS ${what} is ${bytes.length} bytes long; the protocol allows at most 255 bytes.`,
    );
  }
  return bytes;
}

function stripBrackets(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** ATYP + address bytes for a host, choosing IPv4, IPv6 or domain from its form. */
function encodeAddress(host: string): Uint8Array {
  const bare = stripBrackets(host);
  if (ipaddr.IPv4.isValidFourPartDecimal(bare)) {
    return Uint8Array.of(ATYP_IPV4, ...ipaddr.IPv4.parse(bare).toByteArray());
  }
  if (bare.includes(":") || bare !== host) {
    if (!ipaddr.IPv6.isValid(bare) || bare.includes("%")) {
      throw new Socks5Error(
        "bad-address",
        `Host ${JSON.stringify(host)} is not a valid IPv6 literal (zone ids are not allowed); ` +
          "use an IPv4 or IPv6 address or a domain name.",
      );
    }
    return Uint8Array.of(ATYP_IPV6, ...ipaddr.IPv6.parse(bare).toByteArray());
  }
  if (hasControlCharacter(host)) {
    throw new Socks5Error(
      "bad-domain",
      `Host ${JSON.stringify(host)} contains a NUL or control character; use a plain host name.`,
    );
  }
  const domain = fieldBytes(host, "domain name");
  return Uint8Array.of(ATYP_DOMAIN, domain.length, ...domain);
}

function encodeAddressed(second: number, endpoint: Socks5Endpoint): Uint8Array {
  assertPort(endpoint.port);
  const address = encodeAddress(endpoint.host);
  const out = new Uint8Array(3 + address.length + PORT_BYTES);
  out.set([SOCKS_VERSION, second, 0x00]);
  out.set(address, 3);
  out[out.length - 2] = endpoint.port >> 8;
  out[out.length - 1] = endpoint.port & 0xff;
  return out;
}

/** The server's method selection: `05 <method>`. */
export function encodeMethodSelection(method: number): Uint8Array {
  assertByte(method, "method");
  return Uint8Array.of(SOCKS_VERSION, method);
}

/** The RFC 1929 status: `01 00` on success, `01 01` on failure (then close). */
export function encodeUserPassStatus(ok: boolean): Uint8Array {
  return Uint8Array.of(USERPASS_VERSION, ok ? USERPASS_STATUS_SUCCESS : USERPASS_STATUS_FAILURE);
}

/**
 * A server reply. BND.ADDR/BND.PORT default to 0.0.0.0:0, which clients
 * accept when the server does not know or want to reveal the bound address.
 */
export function encodeReply(code: number, bound?: Socks5Endpoint): Uint8Array {
  assertByte(code, "reply code");
  return encodeAddressed(code, bound ?? { host: "0.0.0.0", port: 0 });
}

/** A client greeting offering `methods` (1..255 of them). */
export function encodeGreeting(methods: readonly number[]): Uint8Array {
  if (methods.length === 0) {
    throw new Socks5Error("no-methods", "A SOCKS greeting needs at least one method; got none.");
  }
  if (methods.length > MAX_FIELD_BYTES) {
    throw new Socks5Error(
      "field-too-long",
      `A SOCKS greeting offers at most 255 methods; got ${methods.length}.`,
    );
  }
  for (const method of methods) assertByte(method, "method");
  return Uint8Array.of(SOCKS_VERSION, methods.length, ...methods);
}

/** An RFC 1929 request; username and password must each be 1..255 UTF-8 bytes. */
export function encodeUserPass(username: string, password: string): Uint8Array {
  const user = fieldBytes(username, "username");
  const pass = fieldBytes(password, "password");
  return Uint8Array.of(USERPASS_VERSION, user.length, ...user, pass.length, ...pass);
}

/**
 * A client request. The address type follows the host's form: a dotted quad
 * is IPv4, anything with a colon (or in brackets) must be IPv6, anything else
 * is sent as a domain for the far side to resolve.
 */
export function encodeRequest(request: Socks5RequestInit): Uint8Array {
  const code = typeof request.command === "number"
    ? request.command
    : COMMAND_CODE[request.command];
  assertByte(code, "command");
  return encodeAddressed(code, request);
}

/** A destination as SOCKS5 writes it after a header: ATYP, ADDR and PORT (RFC 1928 §4, §7). */
export interface Socks5Address {
  /** IPv4 dotted quad, IPv6 in RFC 5952 form without brackets, or a domain (UTF-8, unresolved). */
  readonly host: string;
  /** 0..65535. */
  readonly port: number;
  /** Which ATYP carried the host. */
  readonly addressType: Socks5AddressType;
}

/**
 * Parses ATYP, ADDR and PORT starting at `offset`: the tail that requests, replies and UDP
 * datagram headers share. `consumed` counts the bytes from `offset` on. Throws
 * {@link Socks5Error} (`bad-address-type`, `bad-domain`) without a reply code.
 *
 * @example
 * ```ts
 * const result = parseAddress(Uint8Array.of(0, 0, 0, 1, 127, 0, 0, 1, 0, 53), 3);
 * // { kind: "ok", value: { host: "127.0.0.1", port: 53, addressType: "ipv4" }, consumed: 7 }
 * ```
 */
export function parseAddress(buf: Uint8Array, offset = 0): ParseResult<Socks5Address> {
  if (buf.length < offset + 1) return needMore(offset + 2);
  const length = addressLength(buf, offset, false);
  if (length === "need-more") return needMore(offset + 2);
  const end = offset + 1 + length + PORT_BYTES;
  if (buf.length < end) return needMore(end);
  const { host, addressType } = decodeAddress(buf, offset, false);
  return parsed({ host, port: readPort(buf, end - PORT_BYTES), addressType }, end - offset);
}

/**
 * ATYP, ADDR and PORT of an endpoint, the address type chosen from the host's form as in
 * {@link encodeRequest}.
 *
 * @example
 * ```ts
 * encodeAddressAndPort({ host: "127.0.0.1", port: 53 }); // 01 7f 00 00 01 00 35
 * ```
 */
export function encodeAddressAndPort(endpoint: Socks5Endpoint): Uint8Array {
  assertPort(endpoint.port);
  const address = encodeAddress(endpoint.host);
  const out = new Uint8Array(address.length + PORT_BYTES);
  out.set(address);
  out[out.length - 2] = endpoint.port >> 8;
  out[out.length - 1] = endpoint.port & 0xff;
  return out;
}
