/**
 * Inbound doors: how a client's connection enters the proxy (docs/plugins.md#inbound-protocols).
 *
 * The proxy role runs one listener per configured server (`servers[]`) and hands every accepted
 * connection to the handler of the server's `protocol`. The handler speaks the protocol — SOCKS5
 * today; HTTP CONNECT, SOCKS4 and UDP doors are more of the same — and reads, top to bottom: parse
 * the client's request, ask the {@link SessionRouter} for a stream to an exit that has confirmed
 * the destination connection, reply to the client, hand both ends to the relay. The listener and
 * the protocol are apart, so a `mixed` port can peek a connection's first byte and pass it to the
 * protocol whose {@link InboundProtocol.firstBytes} name it.
 *
 * @example A door plugin provides the `inbound` capability
 * ```ts
 * create: () => ({
 *   provides: {
 *     inbound: {
 *       protocol: "socks5",
 *       firstBytes: [0x05],
 *       handler: (server, context) => (conn, signal) => serveSocks5(conn, server, context, signal),
 *     },
 *   },
 * }),
 * ```
 *
 * @module
 */
import type { ServerConfig } from "../config/proxy_config.ts";
import type { ExitSelection } from "../domain/server.ts";
import type { PeerId } from "../ids.ts";
import type { EventSink } from "./event_sink.ts";
import type { DuplexStream } from "./stream_opener.ts";

/** A client's byte connection as a listener accepted it; `Deno.TcpConn` fits as it is. */
export interface ClientConnection {
  /** Reads into `buffer`; resolves the byte count, or null at EOF. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes some of `chunk`; resolves how much was written. */
  write(chunk: Uint8Array): Promise<number>;
  /** Half-close: no more writes from us, reading goes on. */
  closeWrite(): Promise<void>;
  /** Closes both directions. */
  close(): void;
}

/** What a door asks of the router: a stream to an exit already connected to `host:targetPort`. */
export interface SessionRequest {
  /** The configured port the client came in on (it chooses the server's exit rules). */
  readonly port: number;
  /** The destination host name or IP literal, resolved at the exit. */
  readonly host: string;
  /** The destination port. */
  readonly targetPort: number;
  /** An id for the session's events and the exit's logs, e.g. `1080-7`. */
  readonly sessionId: string;
  /** Aborted when the client goes away or the proxy stops. */
  readonly signal: AbortSignal;
  /**
   * The exit this session asks for itself (per-call filters, a session id), instead of the
   * port's exit; the port (when it is a configured one) still sets the open timeout.
   */
  readonly selection?: ExitSelection;
  /**
   * The account the client authenticated as (the RFC 1929 / HTTP Basic user; with username
   * routing, the account part of the name); undefined on a port without users. Limits and
   * usage records are kept per account.
   */
  readonly account?: string;
}

/** Where a session failed: no exit in time, no stream to it, or the exit said no. */
export type SessionFailureStage = "no-peer" | "stream" | "refused";

/** The router's answer: a ready stream, or why not. */
export type SessionOutcome =
  | {
    readonly ok: true;
    /** The stream to the exit, its destination connection confirmed. */
    readonly stream: DuplexStream;
    /** The exit carrying the session. */
    readonly peerId: PeerId;
    /** The address the exit's connection left from, for the client's reply (may be empty). */
    readonly boundHost: string;
    /** Its port (0 when unknown). */
    readonly boundPort: number;
  }
  | {
    readonly ok: false;
    /**
     * The status in SOCKS5 reply-code numbering (1 general failure, 2 not allowed, 3 network
     * unreachable, 4 host unreachable, 5 refused, 6 TTL expired…), which the connect protocol
     * uses too (docs/wire-protocols.md); a door of another protocol maps it to its own answer.
     */
    readonly replyCode: number;
    /** Where it failed. */
    readonly stage: SessionFailureStage;
    /** What went wrong, for the log. */
    readonly message: string;
    /**
     * Why, for a caller that branches on it: `auth` (no token, or the exit refused it),
     * `timeout` (no stream or no answer in time), or the exit's own reason (its egress
     * policy's, e.g. `denied-range`). Absent when nothing more is known.
     */
    readonly reason?: string;
    /** The exit, when one was reached. */
    readonly peerId?: PeerId;
  };

/**
 * Opens confirmed exit sessions: picks the port's exit, opens a stream to it, asks it to connect
 * to the destination, and answers once the exit confirmed. The proxy role implements it.
 */
export interface SessionRouter {
  /** A stream to an exit connected to the destination, or why there is none. Never rejects. */
  open(request: SessionRequest): Promise<SessionOutcome>;
  /** Called for every relayed chunk (`up`: client → exit): cheap counters only. */
  countBytes?(peer: PeerId, direction: "up" | "down", bytes: number): void;
}

/** What a door's handler gets besides its server's settings. */
export interface InboundContext {
  /** Opens the sessions. */
  readonly router: SessionRouter;
  /** Receives the session events (`socks-accepted`, `session-new`, `session-end`…). */
  readonly events: EventSink;
}

/**
 * Serves one accepted connection, from the protocol's handshake to the end of its relay. The
 * listener closes the connection afterwards; a client's fault is a return, not a rejection.
 * `signal` aborts when the proxy stops: the handler then ends the session at once.
 */
export type ConnectionHandler = (conn: ClientConnection, signal: AbortSignal) => Promise<void>;

/** An inbound protocol: what the `inbound` capability provides (one per door plugin). */
export interface InboundProtocol {
  /** The `servers[].protocol` value it serves, e.g. `socks5`. */
  readonly protocol: string;
  /**
   * The first bytes a client of this protocol may send (SOCKS5: `0x05`), for a port that serves
   * several protocols and dispatches on the first byte. Empty when it cannot be told that way.
   */
  readonly firstBytes: readonly number[];
  /** The handler of one configured server; called once per server when the proxy starts. */
  handler(server: ServerConfig, context: InboundContext): ConnectionHandler;
}
