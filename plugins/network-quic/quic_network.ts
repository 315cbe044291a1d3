/**
 * The QUIC network: a `NetworkNode` that carries streams over Deno's native QUIC where both
 * sides have it and over the libp2p node it wraps everywhere else (docs/proxy-behaviour.md#quic).
 * libp2p stays the control plane — dialing, identify, the hub's directory and relay, pings,
 * connection events — and carries the QUIC offer (`/p2proxy/quic/1.0.0`) on its
 * noise-authenticated connection; only the streams of served protocols move to QUIC.
 *
 * - Exit side ({@link QuicNetworkOptions.server}): `handle` serves a protocol on both
 *   transports; the offer protocol hands each asking proxy the endpoint's port, its
 *   certificate and a one-time ticket bound to that proxy's peer id.
 * - Proxy side: the first `open` to an exit asks for its offer and connects over QUIC, pinning
 *   the certificate; later opens reuse the connection. When the exit is relay-only, offers no
 *   QUIC, or QUIC fails (UDP blocked, a refused ticket), the exit's streams go over libp2p until
 *   the proxy's connection to it closes — decided once, logged once, and reported as a
 *   `transport-selected` event. With `mode: "always"` a failure fails the open instead.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { describeError } from "../../core/errors.ts";
import type { Multiaddr, PeerId, Route } from "../../core/ids.ts";
import type { EventSink } from "../../core/ports/event_sink.ts";
import type {
  ConnectionEvent,
  ConnectionInfo,
  HandleOptions,
  NetworkNode,
  StreamHandler,
} from "../../core/ports/network.ts";
import type { RelayServerControl } from "../../core/ports/relay_server.ts";
import {
  type DuplexStream,
  type OpenOptions,
  StreamError,
} from "../../core/ports/stream_opener.ts";
import { QuicOfferSchema } from "../../proto/gen/p2proxy/quic/v1/quic_pb.ts";
import { OpenLimiter } from "../_shared/open_limiter.ts";
import { deadlineSignal, untilAborted } from "./abortable.ts";
import { QUIC_CONNECT_TIMEOUT_MS, QUIC_OFFER_PROTOCOL } from "./constants.ts";
import { readMessage, sendMessage } from "./messages.ts";
import type { QuicServer } from "./quic_server.ts";
import { QuicSession, QuicSessionError } from "./quic_session.ts";
import { TlsPool } from "./tls_pool.ts";

const logger = getLogger(["p2proxy", "network", "quic"]);

/** When the proxy uses QUIC: when the exit offers it, falling back to libp2p (`auto`), or only. */
export type QuicMode = "auto" | "always";

/** Why an exit's streams go over libp2p rather than QUIC. */
export type FallbackReason =
  /** The only connection to the exit is through a hub's relay: UDP cannot reach it. */
  | "relayed"
  /** The exit does not serve the offer protocol (QUIC off, or an older exit). */
  | "not-offered"
  /** The QUIC handshake failed or timed out (UDP blocked, a wrong certificate). */
  | "unreachable"
  /** The exit refused the ticket. */
  | "refused"
  /** The connection's address has no IP to reach over UDP. */
  | "no-address"
  /** This process has no QUIC (Deno without `--unstable-net`). */
  | "unavailable";

/** How the wrapper behaves. */
export interface QuicNetworkOptions {
  /** `auto`: fall back to libp2p streams; `always`: fail instead. */
  readonly mode: QuicMode;
  /**
   * Starts the exit's endpoint (at `start`); absent on a proxy, which only opens. Undefined
   * from it: this node serves no QUIC (an exit whose `auto` endpoint could not bind).
   */
  readonly serve?: () => Promise<QuicServer | undefined>;
  /** Where `transport-selected` events go. */
  readonly events?: EventSink;
  /** Deadline of asking for an offer and connecting; default {@link QUIC_CONNECT_TIMEOUT_MS}. */
  readonly connectTimeoutMs?: number;
  /** False when this process cannot use QUIC (no `--unstable-net`): every exit falls back. */
  readonly quicAvailable?: boolean;
  /**
   * Proxy side: carry sessions over the exit's TLS listener when its offer names one (the
   * default), before QUIC streams; false: QUIC streams only.
   */
  readonly tls?: boolean;
}

/** What carries a proxy's streams to one exit: a QUIC connection, or a pool of TLS ones. */
type Carrier = QuicSession | TlsPool;

/** A carrier and its name (`transportOf`, `transport-selected`). */
interface Carried {
  readonly kind: "quic" | "tls";
  readonly session: Carrier;
}

/** What a proxy knows about reaching one exit. */
type PeerTransport =
  | Carried
  | { readonly kind: "connecting"; readonly done: Promise<Carrier | undefined> }
  | { readonly kind: "libp2p"; readonly reason: FallbackReason };

/** A failed attempt to set up QUIC, and whether to remember it for the peer. */
class Fallback extends Error {
  constructor(
    readonly reason: FallbackReason,
    message: string,
    /** False for a failure worth retrying on the next open (no connection yet). */
    readonly remember = true,
  ) {
    super(message);
  }
}

/** The libp2p network with streams over QUIC where both sides have it. */
export class QuicNetwork implements NetworkNode {
  readonly #inner: NetworkNode;
  readonly #options: QuicNetworkOptions;
  readonly #peers = new Map<PeerId, PeerTransport>();
  readonly #limiter = new OpenLimiter();
  /** Protocols served, so an endpoint started after `handle` serves them too. */
  readonly #handlers = new Map<string, { handler: StreamHandler; options?: HandleOptions }>();
  readonly #unsubscribe: () => void;
  #server: QuicServer | undefined;
  #stopped = false;

  /** Wraps a started libp2p network; call `start` to serve the offer protocol (exit side). */
  constructor(inner: NetworkNode, options: QuicNetworkOptions) {
    this.#inner = inner;
    this.#options = options;
    this.#unsubscribe = inner.onConnection((event) => {
      // A peer whose last connection closed is decided afresh when it comes back.
      if (event.kind === "close" && event.remaining === 0) this.#forget(event.connection.peerId);
    });
  }

  /** The network this one wraps. */
  get inner(): NetworkNode {
    return this.#inner;
  }

  /** The exit's QUIC endpoint, when this node serves one. */
  get server(): QuicServer | undefined {
    return this.#server;
  }

  /**
   * Starts the endpoint (exit side) and serves the offer protocol on libp2p. Call it before the
   * wrapped node listens (the plugin does, at create), so that no proxy can ask for the offer
   * before it is served.
   */
  async start(): Promise<void> {
    const server = await this.#options.serve?.();
    if (!server) return;
    this.#server = server;
    for (const [protocol, { handler, options }] of this.#handlers) {
      server.handle(protocol, handler, options);
    }
    await this.#inner.handle(QUIC_OFFER_PROTOCOL, (stream, remote) => {
      void answerOffer(stream, remote, server);
    });
  }

  /** Stops serving offers, closes the QUIC sessions and the endpoint; the inner node stays. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe();
    if (this.#server) {
      try {
        await this.#inner.unhandle(QUIC_OFFER_PROTOCOL);
      } catch {
        // The inner node may be stopping too.
      }
      await this.#server.stop();
    }
    for (const peer of [...this.#peers.keys()]) this.#forget(peer);
  }

  get peerId(): PeerId {
    return this.#inner.peerId;
  }

  get relayServer(): RelayServerControl | undefined {
    return this.#inner.relayServer;
  }

  addresses(): Multiaddr[] {
    return this.#inner.addresses();
  }

  dialAny(addresses: readonly Multiaddr[], signal?: AbortSignal): Promise<PeerId> {
    return this.#inner.dialAny(addresses, signal);
  }

  isConnected(peer: PeerId): boolean {
    return this.#inner.isConnected(peer);
  }

  connectedRoute(peer: PeerId): Route | undefined {
    return this.#inner.connectedRoute(peer);
  }

  connections(peer: PeerId): ConnectionInfo[] {
    return this.#inner.connections(peer);
  }

  onConnection(listener: (event: ConnectionEvent) => void): () => void {
    return this.#inner.onConnection(listener);
  }

  ping(peer: PeerId, signal?: AbortSignal): Promise<number> {
    return this.#inner.ping(peer, signal);
  }

  async hangUp(peer: PeerId): Promise<void> {
    this.#server?.hangUp(peer);
    this.#forget(peer);
    await this.#inner.hangUp(peer);
  }

  async handle(protocol: string, handler: StreamHandler, options?: HandleOptions): Promise<void> {
    await this.#inner.handle(protocol, handler, options);
    this.#handlers.set(protocol, { handler, ...(options ? { options } : {}) });
    this.#server?.handle(protocol, handler, options);
  }

  async unhandle(protocol: string): Promise<void> {
    this.#handlers.delete(protocol);
    this.#server?.unhandle(protocol);
    await this.#inner.unhandle(protocol);
  }

  /** `tls`, `quic` or `libp2p` once decided for `peer`; undefined before its first open. */
  transportOf(peer: PeerId): string | undefined {
    const state = this.#peers.get(peer);
    if (state === undefined || state.kind === "connecting") return undefined;
    return state.kind;
  }

  /**
   * Opens a stream to `peer`: over its QUIC session (set up on first use), or over libp2p when
   * the peer has none. Honours `maxConcurrent` and `timeoutMs` like the libp2p plugin.
   */
  async open(peer: PeerId, options: OpenOptions): Promise<DuplexStream> {
    const deadline = deadlineSignal(options.timeoutMs, options.signal);
    const signal = deadline.signal;
    let release: (() => void) | undefined;
    try {
      release = await this.#limiter.acquire(peer, options.maxConcurrent, signal);
      const session = await this.#sessionFor(peer, signal);
      if (session === undefined) return await this.#inner.open(peer, options);
      return await session.open(
        options.protocol,
        peer,
        signal,
        options.lazy ?? false,
        options.signal,
      );
    } catch (error) {
      if (error instanceof StreamError) throw error;
      if (options.signal?.aborted && error === options.signal.reason) throw error;
      if (deadline.expired) {
        throw new StreamError(
          "open-timeout",
          `Opening a stream to ${peer} took longer than ${options.timeoutMs} ms.`,
          { cause: error },
        );
      }
      throw new StreamError("io", `Cannot open a stream to ${peer}: ${describeError(error)}`, {
        cause: error,
      });
    } finally {
      deadline.clear();
      release?.();
    }
  }

  /** The peer's live carrier, set up now if need be; undefined: use libp2p. */
  async #sessionFor(peer: PeerId, signal: AbortSignal): Promise<Carrier | undefined> {
    const state = this.#peers.get(peer);
    if (state?.kind === "libp2p") return undefined;
    if ((state?.kind === "quic" || state?.kind === "tls") && state.session.alive) {
      return state.session;
    }
    if (state?.kind === "connecting") return await untilAborted(state.done, signal);
    const pending = Promise.withResolvers<Carrier | undefined>();
    const entry = { kind: "connecting", done: pending.promise } as const;
    this.#peers.set(peer, entry);
    pending.promise.catch(() => {}); // waiters that gave up must not leave it unhandled
    this.#establish(peer, entry).then(pending.resolve, pending.reject);
    return await untilAborted(pending.promise, signal);
  }

  /** Sets up TLS or QUIC to `peer` and records the outcome; never rejects in `auto` mode. */
  async #establish(peer: PeerId, entry: PeerTransport): Promise<Carrier | undefined> {
    // The peer may be forgotten (disconnected, hung up) while this runs: then nothing is recorded.
    const current = () => !this.#stopped && this.#peers.get(peer) === entry;
    try {
      const carried = await this.#connect(peer);
      const session = carried.session;
      if (!current()) {
        session.close();
        return undefined;
      }
      this.#peers.set(peer, carried);
      logger.info("Exit {peer}: sessions go over {carrier} to {remote}.", {
        peer,
        carrier: carried.kind === "tls" ? "TLS connections" : "QUIC",
        remote: session.remote,
      });
      this.#options.events?.emit({
        type: "transport-selected",
        peerId: peer,
        transport: carried.kind,
      });
      return session;
    } catch (error) {
      const fallback = error instanceof Fallback
        ? error
        : new Fallback("unreachable", describeError(error));
      if (!current()) return undefined;
      if (this.#options.mode === "always") {
        this.#peers.delete(peer);
        throw new StreamError(
          "io",
          `Cannot reach exit ${peer} over QUIC (quic: always): ${fallback.message}`,
          { cause: error },
        );
      }
      if (!fallback.remember) {
        this.#peers.delete(peer);
        return undefined;
      }
      this.#peers.set(peer, { kind: "libp2p", reason: fallback.reason });
      // Expected cases (an exit without QUIC, a relayed one) are news; a failure is a warning.
      const level = fallback.reason === "not-offered" || fallback.reason === "relayed"
        ? "info"
        : "warn";
      logger[level]("Exit {peer}: sessions go over libp2p streams, not QUIC ({reason}: {why}).", {
        peer,
        reason: fallback.reason,
        why: fallback.message,
      });
      this.#options.events?.emit({
        type: "transport-selected",
        peerId: peer,
        transport: "libp2p",
        reason: fallback.reason,
      });
      return undefined;
    }
  }

  /**
   * Asks for the exit's offer over libp2p and connects to its TLS listener (when it names one)
   * or its QUIC endpoint; throws a {@link Fallback}.
   */
  async #connect(peer: PeerId): Promise<Carried> {
    if (this.#options.quicAvailable === false) {
      throw new Fallback("unavailable", "this process runs without --unstable-net");
    }
    const connections = this.#inner.connections(peer);
    if (connections.length === 0) {
      throw new Fallback("no-address", "not connected yet", false);
    }
    const direct = connections.find((connection) => !connection.relayed);
    if (!direct) throw new Fallback("relayed", "the exit is reached only through a relay");
    const hostname = ipOf(direct.address);
    if (hostname === undefined) {
      throw new Fallback("no-address", `no IP address in ${direct.address}`);
    }
    const timeoutMs = this.#options.connectTimeoutMs ?? QUIC_CONNECT_TIMEOUT_MS;
    const signal = AbortSignal.timeout(timeoutMs);
    let offerStream: DuplexStream;
    try {
      offerStream = await this.#inner.open(peer, {
        protocol: QUIC_OFFER_PROTOCOL,
        timeoutMs,
        maxConcurrent: 1,
        signal,
      });
    } catch (error) {
      if (error instanceof StreamError && error.code === "unsupported-protocol") {
        throw new Fallback("not-offered", "the exit offers no QUIC endpoint");
      }
      throw new Fallback(
        "unreachable",
        `asking for the QUIC offer failed: ${describeError(error)}`,
      );
    }
    let offer;
    try {
      await offerStream.closeWrite();
      ({ message: offer } = await readMessage(offerStream, QuicOfferSchema, signal));
    } catch (error) {
      offerStream.abort();
      throw new Fallback("unreachable", `reading the QUIC offer failed: ${describeError(error)}`);
    }
    if (offer.tlsPort > 0 && this.#options.tls !== false) {
      try {
        const pool = await TlsPool.connect(
          { hostname, offer, localPeer: this.#inner.peerId },
          signal,
        );
        return { kind: "tls", session: pool };
      } catch (error) {
        // TCP blocked, or refused: QUIC may still get through (with the ticket, if unspent).
        logger.warn("Exit {peer}: its TLS listener failed ({error}); trying QUIC.", {
          peer,
          error: describeError(error),
        });
      }
    }
    try {
      const session = await QuicSession.connect(
        { hostname, offer, localPeer: this.#inner.peerId },
        signal,
      );
      return { kind: "quic", session };
    } catch (error) {
      const reason = error instanceof QuicSessionError && error.code === "refused"
        ? "refused"
        : "unreachable";
      throw new Fallback(reason, describeError(error));
    }
  }

  #forget(peer: PeerId): void {
    const state = this.#peers.get(peer);
    if (state?.kind === "quic" || state?.kind === "tls") state.session.close();
    if (state?.kind === "connecting") {
      state.done.then((session) => session?.close(), () => {});
    }
    this.#peers.delete(peer);
  }
}

/** Exit side of the offer protocol: one offer, for the peer of the connection that asked. */
async function answerOffer(
  stream: DuplexStream,
  remote: ConnectionInfo,
  server: QuicServer,
): Promise<void> {
  try {
    await sendMessage(stream, QuicOfferSchema, server.offer(remote.peerId));
    await stream.closeWrite();
  } catch (error) {
    logger.debug("Could not send a QUIC offer to {peer}: {error}", {
      peer: remote.peerId,
      error: describeError(error),
    });
    stream.abort();
  }
}

/** The IP address of an `/ip4/…` or `/ip6/…` multiaddr. */
export function ipOf(address: string): string | undefined {
  return /^\/ip[46]\/([^/]+)\//.exec(address)?.[1];
}
