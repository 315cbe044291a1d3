/**
 * One SOCKS4/4a session (docs/proxy-behaviour.md#socks4): the request within the handshake
 * deadline, the user id read with the username grammar, a stream to an exit that has CONFIRMED
 * the destination, then `5A` and the relay — or `5B` for anything that failed.
 *
 * SOCKS4 carries no password: on a port with `users` a client is served when its user id is an
 * account with an empty password, or anonymously with `allow_anonymous` (its user id still
 * routes).
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import {
  encodeSocks4Reply,
  parseSocks4Request,
  SOCKS4_REPLY,
  Socks4Error,
  type Socks4Request,
} from "../../core/codec/socks4.ts";
import type { ServerConfig } from "../../core/config/proxy_config.ts";
import {
  authenticateClient,
  type ClientAuthOutcome,
  type ClientAuthSettings,
  selectionForClient,
} from "../../core/domain/client_auth.ts";
import { describeError } from "../../core/errors.ts";
import { hostPort } from "../../core/host_port.ts";
import type {
  ClientConnection,
  ConnectionHandler,
  InboundContext,
} from "../../core/ports/inbound.ts";
import { closeQuietly, writeAll } from "../../wire/tcp_conn.ts";
import { ByteReader } from "../_shared/byte_reader.ts";
import { relaySession } from "../_shared/relay_session.ts";

const logger = getLogger(["p2proxy", "socks4"]);

/**
 * Authenticates a SOCKS4 user id (no password): see the module comment.
 *
 * @example
 * ```ts
 * const port = { users: [], allowAnonymous: false, usernameRouting: true };
 * authenticateUserId(port, "x-country-de").ok; // true, routed to DE, anonymous
 * ```
 */
export function authenticateUserId(port: ClientAuthSettings, userId: string): ClientAuthOutcome {
  if (userId === "") return authenticateClient(port, undefined);
  const outcome = authenticateClient(port, { username: userId, password: "" });
  if (!outcome.ok && outcome.reason === "wrong" && port.allowAnonymous) {
    return authenticateClient({ ...port, users: [] }, { username: userId, password: "" });
  }
  return outcome;
}

/** The SOCKS4 handler of one configured server; sessions are numbered `1080-4s1`… */
export function socks4Handler(server: ServerConfig, context: InboundContext): ConnectionHandler {
  let sequence = 0;
  return (conn, signal) =>
    serveSocks4(conn, server, context, `${server.port}-4s${++sequence}`, signal);
}

/** Serves one SOCKS4/4a connection until its relay ends. Never rejects for the client's faults. */
export async function serveSocks4(
  conn: ClientConnection,
  server: ServerConfig,
  { router, events }: InboundContext,
  sessionId: string,
  signal: AbortSignal,
): Promise<void> {
  const port = server.port;
  const reader = ByteReader.ofConn(conn, 1024);
  const reject = () => writeAll(conn, encodeSocks4Reply(SOCKS4_REPLY.rejected)).catch(() => {});

  // 1. The request, within the handshake deadline.
  const deadline = setTimeout(() => closeQuietly(conn), server.handshakeTimeoutMs);
  let request: Socks4Request;
  try {
    const parsed = await reader.parse(parseSocks4Request);
    if (parsed.kind === "closed") return;
    request = parsed.value;
  } catch (error) {
    if (error instanceof Socks4Error) {
      logger.debug("SOCKS4 request on port {port} refused: {error}", {
        port,
        error: error.message,
      });
      events.emit({ type: "socks-rejected", port, reason: "handshake" });
      await reject();
    }
    return;
  } finally {
    clearTimeout(deadline);
  }
  if (request.command !== "connect") {
    events.emit({ type: "socks-rejected", port, reason: "unsupported" });
    await reject();
    return;
  }

  // 2. The user id, read with the grammar.
  const auth = authenticateUserId(server, request.userId);
  if (!auth.ok) {
    logger.info("SOCKS4 user id on port {port} refused: {message}", {
      port,
      message: auth.message,
    });
    events.emit({ type: "socks-rejected", port, reason: "auth" });
    await reject();
    return;
  }

  // 3. A stream to an exit connected to the destination.
  const target = hostPort(request.host, request.port);
  const selection = selectionForClient(server.filters, auth.routing);
  const outcome = await router.open({
    port,
    host: request.host,
    targetPort: request.port,
    sessionId,
    signal,
    ...(auth.account === undefined ? {} : { account: auth.account }),
    ...(selection === undefined ? {} : { selection }),
  });
  if (!outcome.ok) {
    events.emit({
      type: "session-failed",
      port,
      stage: outcome.stage,
      replyCode: outcome.replyCode,
    });
    logger.info("SOCKS4 CONNECT {target} on port {port} failed: {message}", {
      target,
      port,
      message: outcome.message,
    });
    await reject();
    return;
  }
  // 4. `5A` with the exit's bound address, then the relay.
  await relaySession(conn, outcome, { router, events }, {
    reply: () => encodeSocks4Reply(SOCKS4_REPLY.granted, outcome.boundPort, outcome.boundHost),
    early: reader.take(),
    sessionId,
    port,
    target,
    idleTimeoutMs: server.idleTimeoutMs,
    signal,
    onReplyFailed: (error) =>
      logger.debug("SOCKS4 reply failed: {error}", { error: describeError(error) }),
  });
}
