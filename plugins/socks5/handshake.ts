/**
 * The SOCKS5 handshake on a live connection (RFC 1928, RFC 1929): greeting,
 * optional username/password, request. Parsing is the core's pure codec;
 * this file only reads bytes until a message is whole, within a deadline
 * the caller enforces by closing the connection.
 *
 * @module
 */
import {
  AUTH_METHOD,
  encodeMethodSelection,
  encodeReply,
  encodeUserPassStatus,
  MAX_REQUEST_BYTES,
  parseGreeting,
  parseRequest,
  type ParseResult,
  parseUserPass,
  selectMethod,
  Socks5Error,
  type Socks5Request,
  SOCKS_REPLY,
} from "../../core/codec/socks5.ts";
import { authenticateClient, type ClientAuthSettings } from "../../core/domain/client_auth.ts";
import type { RoutingRequest } from "../../core/domain/username.ts";
import { P2proxyError } from "../../core/errors.ts";
import { type TcpConn, writeAll } from "../../wire/tcp_conn.ts";

/** Why a handshake ended without a request to serve. The reply (if any) was already sent. */
export class HandshakeError
  extends P2proxyError<"closed" | "no-method" | "auth" | "protocol" | "unsupported"> {}

/** A parsed request and any bytes the client sent after it (early data). */
export interface HandshakeResult {
  readonly request: Socks5Request;
  readonly early: Uint8Array;
  /**
   * The account the client authenticated as (the RFC 1929 username, or its account part with
   * username routing); undefined when the client gave no username.
   */
  readonly account?: string;
  /** What the username asks of the router (filters, a session); undefined: the port's exit. */
  readonly routing?: RoutingRequest;
}

/** Reads from a connection into a growing buffer so the codec can parse whole messages. */
class ByteReader {
  #buffer = new Uint8Array(0);
  readonly #conn: TcpConn;

  constructor(conn: TcpConn) {
    this.#conn = conn;
  }

  /** Parses one message, reading more bytes as long as the parser needs them. */
  async next<T>(parse: (buf: Uint8Array) => ParseResult<T>): Promise<T> {
    while (true) {
      const result = parse(this.#buffer);
      if (result.kind === "ok") {
        this.#buffer = this.#buffer.slice(result.consumed);
        return result.value;
      }
      // Every SOCKS5 message is shorter than a request; more bytes than that is not SOCKS5.
      if (this.#buffer.byteLength > MAX_REQUEST_BYTES) {
        throw new HandshakeError(
          "protocol",
          "The client sent more bytes than any SOCKS5 message holds.",
        );
      }
      const chunk = new Uint8Array(MAX_REQUEST_BYTES + 1);
      const n = await this.#conn.read(chunk);
      if (n === null) {
        throw new HandshakeError(
          "closed",
          "The client closed the connection during the handshake.",
        );
      }
      const merged = new Uint8Array(this.#buffer.byteLength + n);
      merged.set(this.#buffer);
      merged.set(chunk.subarray(0, n), this.#buffer.byteLength);
      this.#buffer = merged;
    }
  }

  /** Bytes read past the last message. */
  rest(): Uint8Array {
    return this.#buffer;
  }
}

/**
 * Runs the server side of the handshake. Resolves the request on success;
 * otherwise sends the RFC reply (`05 FF`, auth failure, `07`, `08`…) and
 * throws `HandshakeError`.
 */
export async function serverHandshake(
  conn: TcpConn,
  port: ClientAuthSettings,
): Promise<HandshakeResult> {
  const reader = new ByteReader(conn);
  let account: string | undefined;
  let routing: RoutingRequest | undefined;
  try {
    const greeting = await reader.next(parseGreeting);
    const method = chooseMethod(greeting.methods, port);
    await writeAll(conn, encodeMethodSelection(method));
    if (method === AUTH_METHOD.noAcceptable) {
      throw new HandshakeError(
        "no-method",
        "The client offered no acceptable authentication method.",
      );
    }
    if (method === AUTH_METHOD.userPass) {
      const credentials = await reader.next(parseUserPass);
      const outcome = authenticateClient(port, credentials);
      await writeAll(conn, encodeUserPassStatus(outcome.ok));
      if (!outcome.ok) throw new HandshakeError("auth", outcome.message);
      account = outcome.account;
      routing = outcome.routing;
    }
    const request = await reader.next(parseRequest);
    if (request.command === "bind") {
      await writeAll(conn, encodeReply(SOCKS_REPLY.commandNotSupported));
      throw new HandshakeError("unsupported", `The ${request.command} command is not supported.`);
    }
    return {
      request,
      early: reader.rest(),
      ...(account === undefined ? {} : { account }),
      ...(routing === undefined ? {} : { routing }),
    };
  } catch (error) {
    if (error instanceof Socks5Error) {
      if (error.replyCode !== undefined) {
        await writeAll(conn, encodeReply(error.replyCode)).catch(() => {});
      }
      throw new HandshakeError(
        error.replyCode === SOCKS_REPLY.commandNotSupported ||
          error.replyCode === SOCKS_REPLY.addressTypeNotSupported
          ? "unsupported"
          : "protocol",
        error.message,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * The method to answer a greeting with: USERNAME/PASSWORD when the client offers it and the port
 * has users or reads usernames for routing; NO AUTH when the port lets clients in without
 * credentials (no users, or `allow_anonymous`); else 0xFF (docs/proxy-behaviour.md#handshake).
 */
function chooseMethod(methods: readonly number[], port: ClientAuthSettings): number {
  const needsUser = port.users.length > 0;
  if (methods.includes(AUTH_METHOD.userPass) && (needsUser || port.usernameRouting)) {
    return AUTH_METHOD.userPass;
  }
  if (methods.includes(AUTH_METHOD.noAuth) && (!needsUser || port.allowAnonymous)) {
    return AUTH_METHOD.noAuth;
  }
  return selectMethod(methods, needsUser);
}
