/**
 * One SOCKS5 session, top to bottom (docs/proxy-behaviour.md): the handshake under a deadline,
 * then ask the router for a stream to an exit that has CONFIRMED the destination connection, and
 * only then reply success and relay (docs/proxy-behaviour.md#reply-codes; the anchor replied
 * before contacting the peer). Choosing the exit and opening the stream are the router's job
 * (the `SessionRouter` port); accepting connections is the listener's.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { encodeReply, SOCKS_REPLY } from "../../core/codec/socks5.ts";
import type { ServerConfig } from "../../core/config/proxy_config.ts";
import { selectionForClient } from "../../core/domain/client_auth.ts";
import { describeError } from "../../core/errors.ts";
import { hostPort } from "../../core/host_port.ts";
import type {
  ClientConnection,
  ConnectionHandler,
  InboundContext,
  SessionOutcome,
} from "../../core/ports/inbound.ts";
import { closeQuietly, writeAll } from "../../wire/tcp_conn.ts";
import { relaySession } from "../_shared/relay_session.ts";
import { HandshakeError, serverHandshake } from "./handshake.ts";
import { serveUdpAssociation } from "./udp_association.ts";

const logger = getLogger(["p2proxy", "socks5"]);

/** How a failed CONNECT is logged: a level and a template over `target`, `port`, `peer`, `message`. */
export interface ConnectFailureLine {
  readonly level: "info" | "warn";
  readonly template: string;
}

/**
 * The log line of a CONNECT the proxy could not serve. A refusal by the
 * exit's egress policy or auth (reply 02) is something the operator must
 * fix: it says "denied by policy", at `warn`.
 *
 * @example
 * ```ts
 * connectFailureLine({ ok: false, replyCode: 2, stage: "refused", message: "…" }).template;
 * // "CONNECT {target} on port {port} denied by policy at exit {peer}: {message}"
 * ```
 */
export function connectFailureLine(
  outcome: Extract<SessionOutcome, { ok: false }>,
): ConnectFailureLine {
  const at = outcome.peerId === undefined ? "" : " at exit {peer}";
  // The account's own limits (docs/limits.md): the client's business, not the operator's.
  if (outcome.reason === "limit" || outcome.reason === "quota") {
    return { level: "info", template: "CONNECT {target} on port {port} refused: {message}" };
  }
  if (outcome.replyCode === SOCKS_REPLY.notAllowed) {
    return {
      level: "warn",
      template: `CONNECT {target} on port {port} denied by policy${at}: {message}`,
    };
  }
  switch (outcome.stage) {
    case "no-peer":
      return { level: "info", template: "CONNECT {target} on port {port} failed: {message}" };
    case "stream":
      return {
        level: "info",
        template: `CONNECT {target} on port {port} failed: no stream to the exit${at}: {message}`,
      };
    case "refused":
      return { level: "info", template: `CONNECT {target} on port {port} failed${at}: {message}` };
  }
}

/**
 * The SOCKS5 handler of one configured server: serves each accepted connection with
 * {@link serveSocks5}, numbering its sessions (`1080-1`, `1080-2`…) for events and the exit's log.
 */
export function socks5Handler(server: ServerConfig, context: InboundContext): ConnectionHandler {
  let sequence = 0;
  return (conn, signal) =>
    serveSocks5(conn, server, context, `${server.port}-${++sequence}`, signal);
}

/**
 * Serves one accepted SOCKS5 connection on `server` until its relay ends: handshake, CONNECT
 * through the router, reply, relay. Never rejects for the client's faults.
 */
export async function serveSocks5(
  conn: ClientConnection,
  server: ServerConfig,
  { router, events }: InboundContext,
  sessionId: string,
  signal: AbortSignal,
): Promise<void> {
  const port = server.port;
  events.emit({ type: "socks-accepted", port });

  // 1. The handshake (greeting, optional username/password, request), within its deadline.
  const deadline = setTimeout(() => closeQuietly(conn), server.handshakeTimeoutMs);
  let handshake;
  try {
    handshake = await serverHandshake(conn, server);
  } catch (error) {
    const reason = error instanceof HandshakeError && error.code === "auth"
      ? "auth"
      : error instanceof HandshakeError && error.code === "unsupported"
      ? "unsupported"
      : "handshake";
    events.emit({ type: "socks-rejected", port, reason });
    // A refused username is the operator's to see (it names the bad key); the rest is noise.
    const level = reason === "auth" ? "info" : "debug";
    logger[level]("SOCKS handshake on port {port} ended: {error}", {
      port,
      error: describeError(error),
    });
    return;
  } finally {
    clearTimeout(deadline);
  }

  // 2. Ask the router for a stream to an exit connected to the destination.
  const { request, early, account, routing } = handshake;
  const selection = selectionForClient(server.filters, routing);
  if (request.command === "udp-associate") {
    const session = {
      request,
      sessionId,
      signal,
      ...(account === undefined ? {} : { account }),
      ...(selection === undefined ? {} : { selection }),
    };
    return await serveUdpAssociation(conn, server, { router, events }, session);
  }
  const target = hostPort(request.host, request.port);
  const outcome = await router.open({
    port,
    host: request.host,
    targetPort: request.port,
    sessionId,
    signal,
    ...(account === undefined ? {} : { account }),
    ...(selection === undefined ? {} : { selection }),
  });

  // 3. Reply: the failure as its SOCKS code, or success with the exit's bound address.
  if (!outcome.ok) {
    if (outcome.stage === "no-peer") {
      events.emit({ type: "socks-rejected", port, reason: "no-peer" });
    }
    events.emit({
      type: "session-failed",
      port,
      stage: outcome.stage,
      replyCode: outcome.replyCode,
    });
    const failure = connectFailureLine(outcome);
    logger[failure.level](failure.template, {
      target,
      port,
      stage: outcome.stage,
      replyCode: outcome.replyCode,
      ...(outcome.peerId === undefined ? {} : { peer: outcome.peerId }),
      message: outcome.message,
    });
    await writeAll(conn, encodeReply(outcome.replyCode)).catch(() => {});
    return;
  }
  // 4. Reply success with the exit's bound address, then relay until both directions are done.
  await relaySession(conn, outcome, { router, events }, {
    reply: () =>
      encodeReply(SOCKS_REPLY.succeeded, {
        host: outcome.boundHost || "0.0.0.0",
        port: outcome.boundPort,
      }),
    early,
    sessionId,
    port,
    target,
    idleTimeoutMs: server.idleTimeoutMs,
    signal,
  });
}
