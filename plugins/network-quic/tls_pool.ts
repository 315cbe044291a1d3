/**
 * A proxy's pool of TLS connections to one exit (docs/wire-protocols.md#tls): each session has a
 * connection to itself, taken from the pool — or dialled, when none is idle — and given back
 * once both ends closed the session cleanly; a failed session closes its connection. Every
 * connection pins the exit's certificate from its offer. The first presents the offer's one-time
 * ticket and is given a resume key, which the others present instead.
 *
 * Why one connection per session: the kernel's TCP then does the multiplexing, the flow control
 * and the fairness between sessions, and a session's bytes are one TLS record stream — no
 * framing of sessions over one connection in JavaScript. The pool hides the TCP and TLS
 * handshakes from all but the first session of a burst.
 *
 * @module
 */
import { describeError } from "../../core/errors.ts";
import type { PeerId } from "../../core/ids.ts";
import type { DuplexStream } from "../../core/ports/stream_opener.ts";
import {
  QuicHelloReplySchema,
  QuicHelloSchema,
  type QuicOffer,
} from "../../proto/gen/p2proxy/quic/v1/quic_pb.ts";
import { untilAborted } from "./abortable.ts";
import { certificatePem } from "./certificate.ts";
import { QuicSessionError } from "./quic_session.ts";
import { frameOf, readMessage } from "./messages.ts";
import { carrierError, startStream } from "./stream_start.ts";
import { type StreamConn, TlsDuplexStream } from "./tls_stream.ts";
import { closeQuietly } from "../../wire/tcp_conn.ts";

/**
 * An idle connection is closed after this long (shorter than the exit's own idle timeout, so
 * the proxy closes first and never starts a stream on a connection being closed).
 */
export const TLS_POOL_IDLE_MS = 10_000;

/** How often the pool closes the connections idle for longer than {@link TLS_POOL_IDLE_MS}. */
const SWEEP_INTERVAL_MS = 2_000;

/** Idle connections kept per exit; a connection given back beyond it is closed. */
export const TLS_POOL_MAX_IDLE = 64;

/**
 * Connections being dialled to one exit at once: a burst of sessions waits for a dial or for a
 * connection given back, and the exit never sees more handshakes at once than it admits.
 */
export const TLS_POOL_MAX_DIALS = 16;

/** Where to connect, and with what. */
export interface TlsPoolTarget {
  /** The exit's IP address. */
  readonly hostname: string;
  /** The exit's offer (TLS port, certificate, name, ticket). */
  readonly offer: Pick<QuicOffer, "tlsPort" | "certificate" | "serverName" | "alpn" | "ticket">;
  /** This proxy's peer id, which the ticket was issued to. */
  readonly localPeer: PeerId;
}

interface Idle {
  readonly conn: Deno.TlsConn;
  readonly sinceMs: number;
}

/** The pooled TLS connections to one exit. */
export class TlsPool {
  readonly #target: TlsPoolTarget;
  readonly #caCerts: string[];
  #resumeKey: Uint8Array;
  /** Most recently returned last: the warmest connection is taken first. */
  readonly #idle: Idle[] = [];
  readonly #busy = new Set<StreamConn>();
  /** Opens waiting for a connection given back, or (`"dial"`) for a free dial slot. */
  readonly #waiters: ((next: Deno.TlsConn | "dial") => void)[] = [];
  #dialing = 0;
  /** The sweep timer, running while connections are idle. */
  #sweeper: number | undefined;
  #alive = true;

  private constructor(target: TlsPoolTarget, first: Deno.TlsConn, resumeKey: Uint8Array) {
    this.#target = target;
    this.#caCerts = [certificatePem(target.offer.certificate)];
    this.#resumeKey = resumeKey;
    this.#idle.push({ conn: first, sinceMs: Date.now() });
    this.#startSweeper();
  }

  /**
   * Dials the first connection and presents the offer's ticket, within `signal`.
   *
   * @throws {QuicSessionError} `unreachable` (no TCP, a wrong certificate) or `refused`.
   */
  static async connect(target: TlsPoolTarget, signal: AbortSignal): Promise<TlsPool> {
    const { conn, resumeKey } = await dial(
      target,
      [certificatePem(target.offer.certificate)],
      { ticket: target.offer.ticket },
      signal,
    );
    return new TlsPool(target, conn, resumeKey);
  }

  /** False once closed, or once the exit refused the resume key (ask for a new offer). */
  get alive(): boolean {
    return this.#alive;
  }

  /** The exit's TLS address. */
  get remote(): string {
    const { hostname } = this.#target;
    return `${hostname.includes(":") ? `[${hostname}]` : hostname}:${this.#target.offer.tlsPort}`;
  }

  /** Connections idle in the pool (for tests). */
  get idleConnections(): number {
    return this.#idle.length;
  }

  /**
   * Starts a stream of `protocol` on an idle connection or a new one (stream_start.ts).
   *
   * @throws {StreamError} as {@link startStream}; `io` when no connection could be made.
   */
  async open(
    protocol: string,
    peer: PeerId,
    signal: AbortSignal,
    lazy = false,
    replySignal?: AbortSignal,
  ): Promise<DuplexStream> {
    signal.throwIfAborted();
    this.#sweep();
    const conn = this.#idle.pop()?.conn ?? await this.#acquire(peer, signal);
    this.#busy.add(conn);
    const stream = new TlsDuplexStream(
      conn,
      undefined,
      (settled, rest) => this.#giveBack(settled as Deno.TlsConn, rest),
      () => this.#busy.delete(conn),
      true,
    );
    return await startStream(stream, {
      protocol,
      peer,
      signal,
      lazy,
      replySignal,
      carrier: "TLS",
    });
  }

  /** Closes every connection; streams in flight fail. */
  close(): void {
    this.#alive = false;
    this.#stopSweeper();
    for (const waiter of this.#waiters.splice(0)) waiter("dial");
    for (const { conn } of this.#idle.splice(0)) closeQuietly(conn);
    for (const conn of this.#busy) closeQuietly(conn);
    this.#busy.clear();
  }

  /** A connection given back or newly dialled, within the dial limit. */
  async #acquire(peer: PeerId, signal: AbortSignal): Promise<Deno.TlsConn> {
    if (this.#dialing >= TLS_POOL_MAX_DIALS) {
      const next = await this.#wait(signal);
      if (next !== "dial") return next;
    }
    this.#dialing++;
    try {
      return await this.#dialMore(peer, signal);
    } finally {
      this.#dialing--;
      this.#waiters.shift()?.("dial");
    }
  }

  /** Waits for a connection given back or a free dial slot; rejects when `signal` aborts. */
  #wait(signal: AbortSignal): Promise<Deno.TlsConn | "dial"> {
    return new Promise((resolve, reject) => {
      const waiter = (next: Deno.TlsConn | "dial") => {
        signal.removeEventListener("abort", onAbort);
        resolve(next);
      };
      const onAbort = () => {
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  async #dialMore(peer: PeerId, signal: AbortSignal): Promise<Deno.TlsConn> {
    try {
      const { conn, resumeKey } = await dial(
        this.#target,
        this.#caCerts,
        { resumeKey: this.#resumeKey },
        signal,
      );
      this.#resumeKey = resumeKey;
      if (!this.#alive) {
        closeQuietly(conn);
        throw new Error("the pool was closed");
      }
      return conn;
    } catch (error) {
      // A refused key: this pool is done; the network asks for a new offer on the next open.
      if (error instanceof QuicSessionError && error.code === "refused") this.close();
      throw signal.aborted ? signal.reason : carrierError("TLS", peer, error);
    }
  }

  #giveBack(conn: Deno.TlsConn, rest: Uint8Array): void {
    this.#busy.delete(conn);
    // Bytes from the exit between sessions break the protocol: the connection is not reused.
    if (!this.#alive || rest.byteLength > 0) {
      closeQuietly(conn);
      // A waiter for this connection dials instead.
      this.#waiters.shift()?.("dial");
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) return waiter(conn);
    if (this.#idle.length >= TLS_POOL_MAX_IDLE) return closeQuietly(conn);
    this.#idle.push({ conn, sinceMs: Date.now() });
    this.#sweep();
    this.#startSweeper();
  }

  /** Sweeps every {@link SWEEP_INTERVAL_MS} while connections are idle (never keeps Deno up). */
  #startSweeper(): void {
    if (this.#sweeper !== undefined) return;
    this.#sweeper = setInterval(() => {
      this.#sweep();
      if (this.#idle.length === 0) this.#stopSweeper();
    }, SWEEP_INTERVAL_MS) as unknown as number;
    Deno.unrefTimer(this.#sweeper);
  }

  #stopSweeper(): void {
    if (this.#sweeper === undefined) return;
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  /** Closes the connections idle for longer than {@link TLS_POOL_IDLE_MS} (oldest first). */
  #sweep(): void {
    const cutoff = Date.now() - TLS_POOL_IDLE_MS;
    while (this.#idle.length > 0 && this.#idle[0]!.sinceMs < cutoff) {
      closeQuietly(this.#idle.shift()!.conn);
    }
  }
}

/** Dials, pins the certificate, and presents `admission`: the connection and its resume key. */
async function dial(
  target: TlsPoolTarget,
  caCerts: string[],
  admission: { ticket?: Uint8Array; resumeKey?: Uint8Array },
  signal: AbortSignal,
): Promise<{ conn: Deno.TlsConn; resumeKey: Uint8Array }> {
  const { hostname, offer } = target;
  let conn: Deno.TlsConn;
  const connecting = (async () => {
    const tcp = await Deno.connect({ hostname, port: offer.tlsPort });
    // Small writes (a CONNECT, a keystroke) go out at once.
    tcp.setNoDelay(true);
    // startTls, not connectTls: the name verified is the certificate's, not the address.
    const tls = await Deno.startTls(tcp, {
      hostname: offer.serverName,
      caCerts,
      alpnProtocols: [offer.alpn],
    });
    try {
      await tls.handshake();
    } catch (error) {
      closeQuietly(tls);
      throw error;
    }
    return tls;
  })();
  try {
    conn = await untilAborted(connecting, signal);
  } catch (error) {
    connecting.then((late) => closeQuietly(late), () => {});
    throw new QuicSessionError(
      "unreachable",
      `Cannot connect over TLS to ${hostname}:${offer.tlsPort}: ${describeError(error)}`,
      { cause: error },
    );
  }
  try {
    const settled = Promise.withResolvers<Uint8Array | null>();
    const hello = new TlsDuplexStream(
      conn,
      undefined,
      (_conn, rest) => settled.resolve(rest),
      () => settled.resolve(null),
    );
    await hello.writeAndClose(frameOf(QuicHelloSchema, { ...admission, peerId: target.localPeer }));
    const { message: reply, stream: after } = await readMessage(
      hello,
      QuicHelloReplySchema,
      signal,
    );
    if (!reply.admitted) {
      throw new QuicSessionError("refused", `The exit refused the TLS hello: ${reply.message}`);
    }
    if ((await untilAborted(after.read(), signal)) !== null) {
      throw new Error("the exit sent bytes after its hello reply");
    }
    const rest = await settled.promise;
    if (rest === null || rest.byteLength > 0) throw new Error("the hello did not end cleanly");
    return { conn, resumeKey: reply.resumeKey };
  } catch (error) {
    closeQuietly(conn);
    if (error instanceof QuicSessionError) throw error;
    throw new QuicSessionError(
      "refused",
      `The exit did not admit the TLS connection: ${describeError(error)}`,
      { cause: error },
    );
  }
}
