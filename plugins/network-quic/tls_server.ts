/**
 * The exit's TLS listener (docs/wire-protocols.md#tls): TLS over TCP with the QUIC endpoint's
 * certificate, for proxies that carry each session on a pooled connection of their own. A
 * connection's first stream is its hello — a one-time ticket from the offer, or the resume key
 * an earlier hello of the same peer got — within {@link TLS_HELLO_TIMEOUT_MS}, or the connection is
 * closed: no ticket, no stream. After it, the connection carries one stream at a time, each
 * naming its protocol (stream_dispatch.ts, as on QUIC); once both ends closed a stream, the next
 * may start on the same connection. A connection idle for {@link TLS_SERVER_IDLE_MS} is closed.
 *
 * Why TCP beside QUIC: on loopback and LANs Deno's TLS over TCP moves bytes for a third of the
 * CPU its QUIC does (packets are encrypted and sent one by one on the main thread), which on a
 * 2-core machine is the chain's bulk speed (README, "Performance").
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { ResumeKeys } from "../../core/domain/resume_key.ts";
import type { TicketBook } from "../../core/domain/quic_ticket.ts";
import { describeError } from "../../core/errors.ts";
import { asPeerId, type PeerId } from "../../core/ids.ts";
import type { ConnectionInfo } from "../../core/ports/network.ts";
import { QuicHelloReplySchema, QuicHelloSchema } from "../../proto/gen/p2proxy/quic/v1/quic_pb.ts";
import type { QuicCertificate } from "./certificate.ts";
import { QUIC_ALPN } from "./constants.ts";
import { frameOf, readMessage, sendMessage } from "./messages.ts";
import { dispatchStream, OpenStreams, type ServedProtocol } from "./stream_dispatch.ts";
import { type StreamConn, TlsDuplexStream } from "./tls_stream.ts";
import { closeQuietly } from "../../wire/tcp_conn.ts";
import { skipNudges } from "./data_frames.ts";
import { inboundConnection, remoteOf } from "./inbound_connection.ts";

const logger = getLogger(["p2proxy", "network", "quic"]);

/**
 * An admitted connection waiting for its next stream is closed after this long. Longer than a
 * proxy keeps an idle connection ({@link TLS_POOL_IDLE_MS}), so that the proxy, not the exit,
 * closes an idle one, and never sends a stream into a connection the exit is closing.
 */
export const TLS_SERVER_IDLE_MS = 60_000;

/**
 * A connection must complete its TLS handshake and hello within this (the handshake is part of
 * it, unlike on QUIC, where the hello's 500 ms start after the handshake).
 */
export const TLS_HELLO_TIMEOUT_MS = 1_000;

/** Connections that may wait for their handshake and hello at once; more are closed. */
export const TLS_MAX_UNADMITTED = 256;

/**
 * Admitted connections one peer may hold (each is a socket of the exit's): as many as one QUIC
 * connection carries streams; a further hello of that peer is closed.
 */
export const TLS_MAX_CONNECTIONS_PER_PEER = 4096;

/** Bytes of the read that waits for an idle connection's next stream. */
const IDLE_READ_BYTES = 4 * 1024;

/** What the listener shares with the QUIC endpoint. */
export interface TlsServerOptions {
  /** Address to bind (TCP). */
  readonly hostname: string;
  /** TCP port; 0 lets the OS choose. */
  readonly port: number;
  readonly certificate: QuicCertificate;
  /** The endpoint's ticket book: a ticket admits on either transport, once. */
  readonly tickets: TicketBook;
  /** The endpoint's served protocols (shared: `handle` on the endpoint serves both). */
  readonly handlers: ReadonlyMap<string, ServedProtocol>;
  readonly now: () => number;
  readonly helloTimeoutMs?: number;
  /** Default {@link TLS_SERVER_IDLE_MS}. */
  readonly idleMs?: number;
}

/** A peer's admitted connections and its open streams across them. */
interface PeerConnections {
  readonly conns: Set<StreamConn>;
  readonly open: OpenStreams;
}

/** The exit's TLS listener. Create with {@link TlsServer.start}; `stop` releases everything. */
export class TlsServer {
  readonly #listener: Deno.TlsListener;
  readonly #options: TlsServerOptions;
  readonly #resumeKeys = new ResumeKeys({
    random: (n) => crypto.getRandomValues(new Uint8Array(n)),
  });
  readonly #peers = new Map<PeerId, PeerConnections>();
  readonly #unadmitted = new Set<StreamConn>();
  #stopped = false;
  readonly #accepting: Promise<void>;

  private constructor(listener: Deno.TlsListener, options: TlsServerOptions) {
    this.#listener = listener;
    this.#options = options;
    this.#accepting = this.#acceptLoop();
  }

  /**
   * Binds the TCP port and starts accepting.
   *
   * @throws Deno's error when the port cannot be bound (in use, not permitted).
   */
  static start(options: TlsServerOptions): TlsServer {
    const listener = Deno.listenTls({
      hostname: options.hostname,
      port: options.port,
      cert: options.certificate.certPem,
      key: options.certificate.keyPem,
      alpnProtocols: [QUIC_ALPN],
    });
    return new TlsServer(listener, options);
  }

  /** The bound TCP port. */
  get port(): number {
    return this.#listener.addr.port;
  }

  /** Admitted connections right now (for tests). */
  get admittedConnections(): number {
    let total = 0;
    for (const { conns } of this.#peers.values()) total += conns.size;
    return total;
  }

  /** Closes every connection of `peer` and forgets its resume key. */
  hangUp(peer: PeerId): void {
    this.#resumeKeys.revoke(peer);
    const entry = this.#peers.get(peer);
    if (!entry) return;
    for (const conn of entry.conns) closeQuietly(conn);
    this.#peers.delete(peer);
  }

  /** Stops accepting and closes every connection. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
    for (const conn of this.#unadmitted) closeQuietly(conn);
    for (const peer of [...this.#peers.keys()]) this.hangUp(peer);
    this.#unadmitted.clear();
    await this.#accepting;
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#stopped) {
      let conn: Deno.TlsConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (!this.#stopped) {
          logger.error("The TLS listener stopped accepting: {error}", {
            error: describeError(error),
          });
        }
        return;
      }
      if (this.#stopped || this.#unadmitted.size >= TLS_MAX_UNADMITTED) {
        closeQuietly(conn);
        continue;
      }
      void this.#serve(conn);
    }
  }

  /** Admits the connection on its hello, then serves its streams one after another. */
  async #serve(conn: Deno.TlsConn): Promise<void> {
    this.#unadmitted.add(conn);
    const admitted = await this.#hello(conn);
    this.#unadmitted.delete(conn);
    if (admitted === undefined) return;
    const { peer, rest } = admitted;
    if (this.#stopped) return closeQuietly(conn);
    let entry = this.#peers.get(peer);
    if (!entry) {
      entry = { conns: new Set(), open: new OpenStreams() };
      this.#peers.set(peer, entry);
    }
    if (entry.conns.size >= TLS_MAX_CONNECTIONS_PER_PEER) {
      logger.warn("Closed a TLS connection of {peer}: it holds {limit} already.", {
        peer,
        limit: TLS_MAX_CONNECTIONS_PER_PEER,
      });
      return closeQuietly(conn);
    }
    entry.conns.add(conn);
    const info = connectionInfo(conn, peer);
    try {
      let early: Uint8Array | null = rest;
      while (!this.#stopped) {
        // Nudges between streams say nothing: the next stream has not started.
        early = skipNudges(early);
        if (early.byteLength === 0) {
          early = await this.#nextBytes(conn);
          if (early === null) break;
          continue;
        }
        const settled = Promise.withResolvers<Uint8Array | null>();
        let counted: string | undefined;
        const release = () => {
          if (counted !== undefined) entry.open.release(counted);
          counted = undefined;
        };
        const stream = new TlsDuplexStream(
          conn,
          early,
          (_conn, next) => {
            release();
            settled.resolve(next);
          },
          () => {
            release();
            settled.resolve(null);
          },
        );
        await dispatchStream(stream, {
          handlers: this.#options.handlers,
          open: entry.open,
          peer,
          info,
          onCounted: (protocol) => (counted = protocol),
        });
        early = await settled.promise;
        if (early === null) break;
      }
    } finally {
      closeQuietly(conn);
      entry.conns.delete(conn);
      if (entry.conns.size === 0 && this.#peers.get(peer) === entry) this.#peers.delete(peer);
    }
  }

  /** The first bytes of the next stream, or null when the connection ended or stayed idle. */
  async #nextBytes(conn: StreamConn): Promise<Uint8Array | null> {
    const buffer = new Uint8Array(IDLE_READ_BYTES);
    const timer = setTimeout(() => closeQuietly(conn), this.#options.idleMs ?? TLS_SERVER_IDLE_MS);
    try {
      const n = await conn.read(buffer);
      return n === null ? null : buffer.subarray(0, n);
    } catch {
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Reads the hello stream within the hello timeout and checks its ticket or resume key: the
   * peer it admits and the bytes behind the hello, or undefined after closing the connection.
   */
  async #hello(conn: Deno.TlsConn): Promise<{ peer: PeerId; rest: Uint8Array } | undefined> {
    const helloTimeoutMs = this.#options.helloTimeoutMs ?? TLS_HELLO_TIMEOUT_MS;
    const deadline = AbortSignal.timeout(helloTimeoutMs);
    const onDeadline = () => closeQuietly(conn);
    deadline.addEventListener("abort", onDeadline, { once: true });
    const settled = Promise.withResolvers<Uint8Array | null>();
    const stream = new TlsDuplexStream(
      conn,
      undefined,
      (_conn, rest) => settled.resolve(rest),
      () => settled.resolve(null),
    );
    const remote = remoteOf(conn);
    try {
      const { message: hello, stream: after } = await readMessage(
        stream,
        QuicHelloSchema,
        deadline,
      );
      // The proxy ends its hello stream right behind the hello.
      if ((await after.read()) !== null) throw new Error("bytes after the hello");
      const claimed = asPeerId(hello.peerId);
      const now = this.#options.now();
      const verdict = hello.resumeKey.byteLength > 0
        ? this.#resumeKeys.redeem(hello.resumeKey, claimed, now)
        : this.#options.tickets.redeem(hello.ticket, claimed, now);
      if (!verdict.ok) {
        logger.warn("Refused a TLS connection from {remote} ({claimed}): {reason}", {
          remote,
          claimed: hello.peerId.slice(0, 64),
          reason: verdict.message,
        });
        await sendMessage(stream, QuicHelloReplySchema, {
          admitted: false,
          message: verdict.message,
        }).catch(() => {});
        closeQuietly(conn);
        return undefined;
      }
      const resumeKey = this.#resumeKeys.issue(verdict.peer, now);
      await stream.writeAndClose(frameOf(QuicHelloReplySchema, { admitted: true, resumeKey }));
      const rest = await settled.promise;
      if (rest === null) return undefined;
      logger.debug("Admitted a TLS connection from {peer} at {remote}.", {
        peer: verdict.peer,
        remote,
      });
      return { peer: verdict.peer, rest };
    } catch (error) {
      logger.debug("A TLS hello from {remote} failed: {error}", {
        remote,
        error: deadline.aborted ? `no hello within ${helloTimeoutMs} ms` : describeError(error),
      });
      stream.abort();
      closeQuietly(conn);
      return undefined;
    } finally {
      deadline.removeEventListener("abort", onDeadline);
    }
  }
}

/** The connection as the core's ConnectionInfo: the ticket's peer, at its remote address. */
function connectionInfo(conn: Deno.TlsConn, peer: PeerId): ConnectionInfo {
  return inboundConnection(conn.remoteAddr, peer, `tcp/${conn.remoteAddr.port}/tls`);
}
