/**
 * One SOCKS5 listener (one configured server): accepts clients, runs the
 * handshake under a deadline, asks the proxy for a stream to an exit that has
 * CONFIRMED the destination connection, and only then replies success and
 * relays (docs/proxy-behaviour.md#reply-codes; the anchor replied before contacting the peer).
 *
 * @module
 */
import { hostPort } from "../../core/host_port.ts";
import { getLogger } from "@logtape/logtape";
import { encodeReply, SOCKS_REPLY } from "../../core/codec/socks5.ts";
import type { ServerConfig } from "../../core/config/proxy_config.ts";
import { describeError } from "../../core/errors.ts";
import type { PeerId } from "../../core/ids.ts";
import type { EventSink } from "../../core/ports/event_sink.ts";
import type { DuplexStream } from "../../core/ports/stream_opener.ts";
import { drainWithin } from "../../wire/drain.ts";
import { listenError } from "../../wire/listen_error.ts";
import { relay } from "../../wire/relay.ts";
import { closeQuietly, writeAll } from "../../wire/tcp_conn.ts";
import { HandshakeError, serverHandshake } from "./handshake.ts";

const logger = getLogger(["p2proxy", "socks5"]);

/** What a session asks of the proxy: a stream to an exit already connected to `host:port`. */
export interface ExitSessionRequest {
  readonly port: number;
  readonly host: string;
  readonly targetPort: number;
  readonly sessionId: string;
  readonly signal: AbortSignal;
}

/** The proxy's answer: a ready stream, or the SOCKS reply code to fail with. */
export type ExitSessionOutcome =
  | {
    readonly ok: true;
    readonly stream: DuplexStream;
    readonly peerId: PeerId;
    readonly boundHost: string;
    readonly boundPort: number;
  }
  | {
    readonly ok: false;
    readonly replyCode: number;
    /** `no-peer`: no exit in time; `stream`: could not reach it; `refused`: the exit said no. */
    readonly stage: "no-peer" | "stream" | "refused";
    readonly message: string;
    readonly peerId?: PeerId;
  };

/** Opens sessions toward exits (implemented by the proxy runtime). */
export interface ExitSessions {
  open(request: ExitSessionRequest): Promise<ExitSessionOutcome>;
  /** Called for every relayed chunk: cheap counters only. */
  countBytes?(peer: PeerId, direction: "up" | "down", bytes: number): void;
}

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
  outcome: Extract<ExitSessionOutcome, { ok: false }>,
): ConnectFailureLine {
  const at = outcome.peerId === undefined ? "" : " at exit {peer}";
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

/** A running listener. */
export class Socks5Listener {
  readonly server: ServerConfig;
  readonly #listener: Deno.TcpListener;
  readonly #sessions: ExitSessions;
  readonly #events: EventSink;
  readonly #connections = new Map<Deno.Conn, AbortController>();
  readonly #accepting: Promise<void>;
  #sequence = 0;

  private constructor(
    server: ServerConfig,
    listener: Deno.TcpListener,
    sessions: ExitSessions,
    events: EventSink,
  ) {
    this.server = server;
    this.#listener = listener;
    this.#sessions = sessions;
    this.#events = events;
    this.#accepting = this.#acceptLoop();
  }

  /**
   * Binds `server.bind:server.port` and starts accepting. A bind failure is a
   * `ListenError` naming the address and `configKey` (the server's entry in
   * the config, e.g. `servers[0].port`).
   */
  static listen(
    server: ServerConfig,
    sessions: ExitSessions,
    events: EventSink,
    configKey = "servers[].port",
  ): Socks5Listener {
    let listener: Deno.TcpListener;
    try {
      listener = Deno.listen({ hostname: server.bind, port: server.port, transport: "tcp" });
    } catch (error) {
      throw listenError(error, {
        address: hostPort(server.bind, server.port),
        purpose: "SOCKS5",
        configKey,
      });
    }
    logger.info("SOCKS5 listening on {address}", {
      address: hostPort(server.bind, (listener.addr as Deno.NetAddr).port),
    });
    return new Socks5Listener(server, listener, sessions, events);
  }

  /** The bound address (the port is the real one when the config said 0). */
  get address(): Deno.NetAddr {
    return this.#listener.addr as Deno.NetAddr;
  }

  /** Connections being served. */
  get activeConnections(): number {
    return this.#connections.size;
  }

  /** Stops accepting; sessions keep running. */
  async stopAccepting(): Promise<void> {
    closeQuietly(this.#listener);
    await this.#accepting;
  }

  /** Stops accepting, waits up to `graceMs` for sessions to end, then resets the rest. */
  async close(graceMs = 0): Promise<void> {
    await this.stopAccepting();
    await drainWithin(() => this.#connections.size > 0, graceMs);
    for (const abort of this.#connections.values()) {
      abort.abort(new Error("The proxy is shutting down."));
    }
    while (this.#connections.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  async #acceptLoop(): Promise<void> {
    while (true) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted) {
          return;
        }
        logger.warn("Accept failed on port {port}: {error}", {
          port: this.server.port,
          error: describeError(error),
        });
        continue;
      }
      const abort = new AbortController();
      this.#connections.set(conn, abort);
      this.#serve(conn, abort.signal)
        .catch((error) =>
          logger.error("A SOCKS session failed: {error}", { error: describeError(error) })
        )
        .finally(() => {
          closeQuietly(conn);
          this.#connections.delete(conn);
        });
    }
  }

  async #serve(conn: Deno.TcpConn, signal: AbortSignal): Promise<void> {
    const port = this.server.port;
    this.#events.emit({ type: "socks-accepted", port });
    try {
      conn.setNoDelay(true);
    } catch {
      // The client may already be gone.
    }
    const onAbort = () => closeQuietly(conn);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await this.#session(conn, signal);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  async #session(conn: Deno.TcpConn, signal: AbortSignal): Promise<void> {
    const port = this.server.port;
    const deadline = setTimeout(() => closeQuietly(conn), this.server.handshakeTimeoutMs);
    let handshake;
    try {
      handshake = await serverHandshake(conn, this.server.users);
    } catch (error) {
      const reason = error instanceof HandshakeError && error.code === "auth"
        ? "auth"
        : error instanceof HandshakeError && error.code === "unsupported"
        ? "unsupported"
        : "handshake";
      this.#events.emit({ type: "socks-rejected", port, reason });
      logger.debug("SOCKS handshake on port {port} ended: {error}", {
        port,
        error: describeError(error),
      });
      return;
    } finally {
      clearTimeout(deadline);
    }

    const { request, early } = handshake;
    const sessionId = `${port}-${++this.#sequence}`;
    const target = hostPort(request.host, request.port);
    const outcome = await this.#sessions.open({
      port,
      host: request.host,
      targetPort: request.port,
      sessionId,
      signal,
    });
    if (!outcome.ok) {
      if (outcome.stage === "no-peer") {
        this.#events.emit({ type: "socks-rejected", port, reason: "no-peer" });
      }
      this.#events.emit({
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

    const { stream, peerId } = outcome;
    try {
      await writeAll(
        conn,
        encodeReply(SOCKS_REPLY.succeeded, {
          host: outcome.boundHost || "0.0.0.0",
          port: outcome.boundPort,
        }),
      );
      if (early.byteLength > 0) await stream.write(early);
    } catch (error) {
      stream.abort(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.#events.emit({ type: "session-new", sessionId, port, target, peerId });
    const sessions = this.#sessions;
    const result = await relay(conn, stream, {
      idleTimeoutMs: this.server.idleTimeoutMs,
      signal,
      ...(sessions.countBytes
        ? {
          onBytes: (direction, bytes) =>
            sessions.countBytes!(peerId, direction === "fromTcp" ? "up" : "down", bytes),
        }
        : {}),
    });
    this.#events.emit({
      type: "session-end",
      sessionId,
      port,
      peerId,
      bytesUp: result.bytesFromTcp + early.byteLength,
      bytesDown: result.bytesFromStream,
      ...(result.error ? { error: { stage: "relay", message: result.error.message } } : {}),
    });
  }
}
