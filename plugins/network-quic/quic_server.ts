/**
 * The exit's QUIC endpoint (docs/wire-protocols.md#quic): a self-signed certificate made at
 * start, tickets handed out over libp2p ({@link QuicServer.offer}), and connections admitted
 * only once their first stream presented a valid ticket within {@link HELLO_TIMEOUT_MS} — no
 * ticket, no stream. Every later stream names its protocol and goes to that protocol's
 * handler, exactly as a libp2p stream would, with the ticket's peer as the remote.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { TicketBook } from "../../core/domain/quic_ticket.ts";
import { describeError } from "../../core/errors.ts";
import { hostPort } from "../../core/host_port.ts";
import { asPeerId, type PeerId } from "../../core/ids.ts";
import type { ConnectionInfo, HandleOptions, StreamHandler } from "../../core/ports/network.ts";
import {
  QuicHelloReplySchema,
  QuicHelloSchema,
  type QuicOffer,
} from "../../proto/gen/p2proxy/quic/v1/quic_pb.ts";
import { makeSelfSignedCertificate, type QuicCertificate } from "./certificate.ts";
import {
  HELLO_TIMEOUT_MS,
  KEEP_ALIVE_INTERVAL_MS,
  MAX_IDLE_TIMEOUT_MS,
  MAX_STREAMS_PER_CONNECTION,
  MAX_UNADMITTED_CONNECTIONS,
  QUIC_ALPN,
  QUIC_SERVER_NAME,
} from "./constants.ts";
import { untilAborted } from "./abortable.ts";
import { readMessage, sendMessage } from "./messages.ts";
import { QuicDuplexStream } from "./quic_stream.ts";
import { TlsServer } from "./tls_server.ts";
import { inboundConnection, remoteOf } from "./inbound_connection.ts";
import { dispatchStream, OpenStreams, type ServedProtocol } from "./stream_dispatch.ts";

const logger = getLogger(["p2proxy", "network", "quic"]);

/** Application close codes of an exit's QUIC connections. */
export const QUIC_CLOSE = {
  /** The endpoint is stopping. */
  shutdown: 0,
  /** The first stream presented no valid ticket. */
  refused: 1,
  /** No ticket arrived within {@link HELLO_TIMEOUT_MS}. */
  silent: 2,
  /** The exit hung up on the peer. */
  hangUp: 3,
} as const;

/** Where and how the endpoint listens. */
export interface QuicServerOptions {
  /** Address to bind (UDP); `0.0.0.0` or `::` for every interface. */
  readonly hostname: string;
  /** UDP port; 0 lets the OS choose. */
  readonly port: number;
  /** Unix ms now (for ticket lifetimes). */
  readonly now?: () => number;
  /** Default {@link HELLO_TIMEOUT_MS}; given, it bounds the TLS listener's hello too. */
  readonly helloTimeoutMs?: number;
  /**
   * TCP port of the TLS listener beside the endpoint (tls_server.ts; 0: the OS chooses), on the
   * same host; undefined: none, proxies use QUIC streams.
   */
  readonly tlsPort?: number;
  /** Address the TLS listener binds; default `hostname`. */
  readonly tlsHostname?: string;
}

/** An admitted connection and its streams per protocol. */
interface Admitted {
  readonly conn: Deno.QuicConn;
  readonly peer: PeerId;
  readonly open: OpenStreams;
}

/** The exit's QUIC endpoint. Create with {@link QuicServer.start}; `stop` releases everything. */
export class QuicServer {
  readonly #endpoint: Deno.QuicEndpoint;
  readonly #listener: Deno.QuicListener;
  readonly #certificate: QuicCertificate;
  readonly #tickets: TicketBook;
  readonly #now: () => number;
  readonly #helloTimeoutMs: number;
  readonly #handlers = new Map<string, ServedProtocol>();
  readonly #admitted = new Set<Admitted>();
  readonly #unadmitted = new Set<Deno.QuicConn>();
  #pendingAccepts = 0;
  #tls: TlsServer | undefined;
  #stopped = false;
  readonly #accepting: Promise<void>;

  private constructor(
    endpoint: Deno.QuicEndpoint,
    listener: Deno.QuicListener,
    certificate: QuicCertificate,
    options: QuicServerOptions,
  ) {
    this.#endpoint = endpoint;
    this.#listener = listener;
    this.#certificate = certificate;
    this.#now = options.now ?? Date.now;
    this.#helloTimeoutMs = options.helloTimeoutMs ?? HELLO_TIMEOUT_MS;
    this.#tickets = new TicketBook({
      random: (n) => crypto.getRandomValues(new Uint8Array(n)),
    });
    this.#accepting = this.#acceptLoop();
  }

  /**
   * Makes a certificate, binds the UDP port and starts accepting.
   *
   * @throws Deno's error when the port cannot be bound (in use, not permitted).
   */
  static async start(options: QuicServerOptions): Promise<QuicServer> {
    const certificate = await makeSelfSignedCertificate(QUIC_SERVER_NAME);
    const endpoint = new Deno.QuicEndpoint({ hostname: options.hostname, port: options.port });
    try {
      const listener = endpoint.listen({
        cert: certificate.certPem,
        key: certificate.keyPem,
        alpnProtocols: [QUIC_ALPN],
        maxConcurrentBidirectionalStreams: MAX_STREAMS_PER_CONNECTION,
        maxConcurrentUnidirectionalStreams: 0,
        maxIdleTimeout: MAX_IDLE_TIMEOUT_MS,
        keepAliveInterval: KEEP_ALIVE_INTERVAL_MS,
      });
      const server = new QuicServer(endpoint, listener, certificate, options);
      if (options.tlsPort !== undefined) {
        server.#startTls(
          options.tlsHostname ?? options.hostname,
          options.tlsPort,
          options.helloTimeoutMs,
        );
      }
      return server;
    } catch (error) {
      endpoint.close();
      throw error;
    }
  }

  /**
   * Starts the TLS listener; a port that cannot be bound leaves QUIC alone serving.
   * `helloTimeoutMs`: the caller's, if given; else the listener's own default.
   */
  #startTls(hostname: string, port: number, helloTimeoutMs?: number): void {
    try {
      this.#tls = TlsServer.start({
        hostname,
        port,
        certificate: this.#certificate,
        tickets: this.#tickets,
        handlers: this.#handlers,
        now: this.#now,
        ...(helloTimeoutMs === undefined ? {} : { helloTimeoutMs }),
      });
      logger.info("Serving TLS on TCP {address}.", {
        address: hostPort(hostname, this.#tls.port),
      });
    } catch (error) {
      if (port !== 0) {
        // The port after libp2p's may be taken: any port will do (the offer names it).
        logger.warn(
          "Cannot serve TLS on TCP {address} ({error}); trying a port of the OS's choice.",
          {
            address: hostPort(hostname, port),
            error: describeError(error),
          },
        );
        return this.#startTls(hostname, 0, helloTimeoutMs);
      }
      logger.warn("Cannot serve TLS on TCP {address} ({error}); proxies will use QUIC streams.", {
        address: hostPort(hostname, port),
        error: describeError(error),
      });
    }
  }

  /** The TLS listener beside the endpoint, when it serves one. */
  get tls(): TlsServer | undefined {
    return this.#tls;
  }

  /** The bound UDP address. */
  get address(): Deno.NetAddr {
    return this.#endpoint.addr;
  }

  /** Connections admitted right now (for tests and metrics). */
  get admittedConnections(): number {
    return this.#admitted.size;
  }

  /** What a proxy needs to connect: the port, the certificate to pin, a ticket for `peer`. */
  offer(peer: PeerId): Omit<QuicOffer, "$typeName" | "$unknown"> {
    const { ticket, expiresAtMs } = this.#tickets.issue(peer, this.#now());
    return {
      port: this.#endpoint.addr.port,
      certificate: this.#certificate.der,
      serverName: this.#certificate.serverName,
      alpn: QUIC_ALPN,
      ticket,
      ticketTtlMs: Math.max(0, expiresAtMs - this.#now()),
      tlsPort: this.#tls?.port ?? 0,
    };
  }

  /** Serves `protocol` on admitted connections. */
  handle(protocol: string, handler: StreamHandler, options: HandleOptions = {}): void {
    this.#handlers.set(protocol, {
      handler,
      maxInboundStreams: options.maxInboundStreams ?? MAX_STREAMS_PER_CONNECTION,
    });
  }

  /** Stops serving `protocol`; its open streams keep running. */
  unhandle(protocol: string): void {
    this.#handlers.delete(protocol);
  }

  /** Closes every QUIC and TLS connection of `peer`. */
  hangUp(peer: PeerId): void {
    this.#tls?.hangUp(peer);
    for (const admitted of this.#admitted) {
      if (admitted.peer !== peer) continue;
      admitted.conn.close({ closeCode: QUIC_CLOSE.hangUp, reason: "hung up" });
      this.#admitted.delete(admitted);
    }
  }

  /** Stops accepting, closes every connection and the endpoint. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#listener.stop();
    await this.#tls?.stop();
    for (const conn of [...this.#unadmitted, ...[...this.#admitted].map((a) => a.conn)]) {
      conn.close({ closeCode: QUIC_CLOSE.shutdown, reason: "the exit is stopping" });
    }
    this.#admitted.clear();
    this.#unadmitted.clear();
    this.#endpoint.close({ closeCode: QUIC_CLOSE.shutdown, reason: "the exit is stopping" });
    await this.#accepting;
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#stopped) {
      let incoming: Deno.QuicIncoming;
      try {
        incoming = await this.#listener.incoming();
      } catch (error) {
        if (!this.#stopped) {
          logger.error("The QUIC endpoint stopped accepting: {error}", {
            error: describeError(error),
          });
        }
        return;
      }
      if (this.#pendingAccepts + this.#unadmitted.size >= MAX_UNADMITTED_CONNECTIONS) {
        incoming.refuse();
        continue;
      }
      void this.#admit(incoming);
    }
  }

  /** Completes the handshake, then admits the connection on a valid ticket or closes it. */
  async #admit(incoming: Deno.QuicIncoming): Promise<void> {
    let conn: Deno.QuicConn;
    this.#pendingAccepts++;
    try {
      conn = await incoming.accept();
    } catch (error) {
      logger.debug("A QUIC handshake failed: {error}", { error: describeError(error) });
      return;
    } finally {
      this.#pendingAccepts--;
    }
    if (this.#stopped) return conn.close({ closeCode: QUIC_CLOSE.shutdown, reason: "stopping" });
    this.#unadmitted.add(conn);
    const streams = conn.incomingBidirectionalStreams.getReader();
    const peer = await this.#hello(conn, streams);
    this.#unadmitted.delete(conn);
    if (peer === undefined) return;
    if (this.#stopped) return conn.close({ closeCode: QUIC_CLOSE.shutdown, reason: "stopping" });
    const admitted: Admitted = { conn, peer, open: new OpenStreams() };
    this.#admitted.add(admitted);
    conn.closed.catch(() => {}).finally(() => this.#admitted.delete(admitted));
    const info = connectionInfo(conn, peer);
    try {
      while (true) {
        const next = await streams.read();
        if (next.done) break;
        void this.#serveStream(next.value, admitted, info);
      }
    } catch {
      // The connection closed: its streams fail on their own.
    } finally {
      this.#admitted.delete(admitted);
    }
  }

  /**
   * Reads the first stream's hello within the hello timeout and redeems its ticket: the peer it
   * admits, or undefined after closing the connection.
   */
  async #hello(
    conn: Deno.QuicConn,
    streams: ReadableStreamDefaultReader<Deno.QuicBidirectionalStream>,
  ): Promise<PeerId | undefined> {
    const deadline = AbortSignal.timeout(this.#helloTimeoutMs);
    const remote = remoteOf(conn);
    let first: ReadableStreamReadResult<Deno.QuicBidirectionalStream>;
    try {
      first = await untilAborted(streams.read(), deadline);
    } catch {
      return this.#close(conn, QUIC_CLOSE.silent, `No ticket within ${this.#helloTimeoutMs} ms.`);
    }
    if (first.done) return undefined;
    const stream = new QuicDuplexStream(first.value);
    let hello;
    try {
      ({ message: hello } = await readMessage(stream, QuicHelloSchema, deadline));
    } catch (error) {
      stream.abort();
      const reason = deadline.aborted
        ? `No ticket within ${this.#helloTimeoutMs} ms.`
        : `A bad hello: ${describeError(error)}`;
      return this.#close(conn, deadline.aborted ? QUIC_CLOSE.silent : QUIC_CLOSE.refused, reason);
    }
    const verdict = this.#tickets.redeem(hello.ticket, asPeerId(hello.peerId), this.#now());
    if (!verdict.ok) {
      logger.warn("Refused a QUIC connection from {remote} ({claimed}): {reason}", {
        remote,
        claimed: hello.peerId.slice(0, 64),
        reason: verdict.message,
      });
      await sendMessage(stream, QuicHelloReplySchema, {
        admitted: false,
        message: verdict.message,
      }).catch(() => {});
      return this.#close(conn, QUIC_CLOSE.refused, `Ticket refused: ${verdict.reason}.`);
    }
    try {
      await sendMessage(stream, QuicHelloReplySchema, { admitted: true });
      await stream.closeWrite();
    } catch (error) {
      return this.#close(conn, QUIC_CLOSE.refused, `The hello failed: ${describeError(error)}`);
    }
    logger.debug("Admitted a QUIC connection from {peer} at {remote}.", {
      peer: verdict.peer,
      remote,
    });
    return verdict.peer;
  }

  #close(conn: Deno.QuicConn, closeCode: number, reason: string): undefined {
    try {
      conn.close({ closeCode, reason });
    } catch {
      // Already closed.
    }
    return undefined;
  }

  /** Dispatches a stream to its protocol's handler (stream_dispatch.ts). */
  async #serveStream(
    raw: Deno.QuicBidirectionalStream,
    admitted: Admitted,
    info: ConnectionInfo,
  ): Promise<void> {
    let counted: string | undefined;
    const stream = new QuicDuplexStream(raw, () => {
      if (counted !== undefined) admitted.open.release(counted);
    });
    await dispatchStream(stream, {
      handlers: this.#handlers,
      open: admitted.open,
      peer: admitted.peer,
      info,
      onCounted: (protocol) => (counted = protocol),
    });
  }
}

/** The connection as the core's ConnectionInfo: the ticket's peer, at its remote address. */
function connectionInfo(conn: Deno.QuicConn, peer: PeerId): ConnectionInfo {
  return inboundConnection(conn.remoteAddr, peer, `udp/${conn.remoteAddr.port}/quic-v1`);
}
