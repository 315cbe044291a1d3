/**
 * The network actor: owns the libp2p node (TCP, noise, yamux, identify,
 * ping, circuit-relay transport) and is the only code that talks to its
 * event bus. Implements the Dialer, StreamOpener and NetworkNode ports.
 *
 * @module
 */
// First: gives Deno's BroadcastChannel the `unref` mortice (the peer store's lock) calls.
import "./broadcast_channel_unref.ts";
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { autoNAT } from "@libp2p/autonat";
import { circuitRelayTransport } from "@libp2p/circuit-relay-v2";
import { dcutr } from "@libp2p/dcutr";
import { privateKeyFromProtobuf } from "@libp2p/crypto/keys";
import { identify } from "@libp2p/identify";
import type {
  Connection,
  Libp2p,
  PeerId as Libp2pPeerId,
  ServiceMap,
  Stream,
  StreamMuxer,
} from "@libp2p/interface";
import { peerIdFromString } from "@libp2p/peer-id";
import { type Ping, ping } from "@libp2p/ping";
import { tcp } from "@libp2p/tcp";
import { multiaddr } from "@multiformats/multiaddr";
import { getLogger } from "@logtape/logtape";
import { createLibp2p, type Libp2pOptions } from "libp2p";
import { describeError } from "../../core/errors.ts";
import {
  asMultiaddr,
  asPeerId,
  isRelayedAddress,
  type Multiaddr,
  type PeerId,
  peerIdOfAddress,
  type Route,
} from "../../core/ids.ts";
import { DialError } from "../../core/ports/dialer.ts";
import type { Identity } from "../../core/ports/identity.ts";
import type {
  ConnectionEvent,
  ConnectionInfo,
  HandleOptions,
  NetworkNode,
  StreamHandler,
} from "../../core/ports/network.ts";
import { type OpenOptions, StreamError } from "../../core/ports/stream_opener.ts";
import {
  DIAL_TIMEOUT_MS,
  MAX_CONNECTIONS,
  MAX_READ_BUFFER_BYTES,
  MAX_STREAM_WINDOW_BYTES,
  MAX_STREAMS_PER_CONNECTION,
} from "./constants.ts";
import { coalescedWrites } from "./coalesced_tcp.ts";
import { libp2pListenError } from "./listen_failure.ts";
import { Libp2pDuplexStream } from "./libp2p_stream.ts";
import { OpenLimiter } from "../_shared/open_limiter.ts";
import {
  isRelayListenAddress,
  RELAY_LISTEN_SERVICE_NAME,
  RelayListenKeeper,
  relayListenService,
} from "./relay_listener.ts";
import {
  Libp2pRelayServerControl,
  RELAY_SERVICE_NAME,
  type RelayServerControl,
  type RelayServerOptions,
  relayServerService,
} from "./relay_server.ts";

const logger = getLogger(["p2proxy", "network"]);

/** How the node is built. */
export interface NetworkOptions {
  /**
   * libp2p listen multiaddrs, e.g. `/ip4/127.0.0.1/tcp/0`. A relay address
   * `<hub>/p2p/<HUB>/p2p-circuit` is listened on after start and kept up
   * (retried while the hub is down, renewed after it restarts): see
   * `relay_listener.ts`.
   */
  readonly listen: readonly string[];
  /** Addresses to advertise instead of the listen addresses (empty: advertise what libp2p finds). */
  readonly announce: readonly string[];
  /** Extra libp2p services (the hub adds the circuit relay server). */
  // deno-lint-ignore no-explicit-any
  readonly services?: Record<string, (components: any) => unknown>;
  readonly maxConnections?: number;
  /** Deadline of one dial race. */
  readonly dialTimeoutMs?: number;
  /** Run a circuit relay v2 server (the hub) with these limits; see `relay_server.ts`. */
  readonly relayServer?: RelayServerOptions;
  /**
   * DCUtR and AutoNAT: a relayed connection upgrades to a direct one when the
   * two peers can reach each other (docs/proxy-behaviour.md#hole-punching). Default false.
   */
  readonly holePunching?: boolean;
}

type Services = ServiceMap & { ping: Ping };

/** The libp2p-backed network. Create with `Libp2pNetwork.create`, then `start`. */
export class Libp2pNetwork implements NetworkNode {
  readonly peerId: PeerId;
  readonly #node: Libp2p<Services>;
  readonly #limiter = new OpenLimiter();
  readonly #listeners = new Set<(event: ConnectionEvent) => void>();
  readonly #dialTimeoutMs: number;
  readonly #relayKeeper: RelayListenKeeper | undefined;
  readonly #relayServerOptions: RelayServerOptions | undefined;
  #relayServer: Libp2pRelayServerControl | undefined;
  #stopping = false;

  private constructor(
    node: Libp2p<Services>,
    dialTimeoutMs: number,
    relayListen: readonly string[],
    relayServer: RelayServerOptions | undefined,
  ) {
    this.#node = node;
    this.#dialTimeoutMs = dialTimeoutMs;
    this.#relayServerOptions = relayServer;
    this.#relayKeeper = relayListen.length > 0
      ? new RelayListenKeeper(
        (node.services as Record<string, unknown>)[RELAY_LISTEN_SERVICE_NAME] as never,
        relayListen,
      )
      : undefined;
    this.peerId = asPeerId(node.peerId.toString());
    node.addEventListener("connection:open", (event) => this.#onConnection("open", event.detail));
    node.addEventListener("connection:close", (event) => this.#onConnection("close", event.detail));
  }

  /** Builds (but does not start) a node with the identity's key. */
  static async create(identity: Identity, options: NetworkOptions): Promise<Libp2pNetwork> {
    const relayListen = options.listen.filter(isRelayListenAddress);
    const config: Libp2pOptions<Services> = {
      privateKey: privateKeyFromProtobuf(identity.privateKey),
      start: false,
      addresses: {
        listen: options.listen.filter((address) => !isRelayListenAddress(address)),
        announce: [...options.announce],
      },
      transports: [coalescedWrites(tcp()), circuitRelayTransport()],
      connectionEncrypters: [noise()],
      streamMuxers: [
        yamux({
          maxInboundStreams: MAX_STREAMS_PER_CONNECTION,
          maxOutboundStreams: MAX_STREAMS_PER_CONNECTION,
          streamOptions: {
            maxStreamWindowSize: MAX_STREAM_WINDOW_BYTES,
            maxReadBufferLength: MAX_READ_BUFFER_BYTES,
            // Sessions enforce their own idle timeout (none by default).
            inactivityTimeout: 0,
          },
        }),
      ],
      connectionManager: {
        maxConnections: options.maxConnections ?? MAX_CONNECTIONS,
        // Every test and bench peer dials from 127.0.0.1: the per-host rate limit would refuse them.
        inboundConnectionThreshold: 10_000,
        maxIncomingPendingConnections: 1_000,
      },
      // Liveness is the discovery actor's job (docs/proxy-behaviour.md#liveness).
      connectionMonitor: { enabled: false },
      services: {
        identify: identify({ runOnLimitedConnection: true }),
        ping: ping({ runOnLimitedConnection: true, maxInboundStreams: 64, maxOutboundStreams: 64 }),
        ...(options.relayServer
          ? { [RELAY_SERVICE_NAME]: relayServerService(options.relayServer) }
          : {}),
        ...(relayListen.length > 0 ? { [RELAY_LISTEN_SERVICE_NAME]: relayListenService() } : {}),
        ...(options.holePunching ? holePunchingServices() : {}),
        ...(options.services ?? {}),
      } as never,
    };
    const node = await createLibp2p(config);
    return new Libp2pNetwork(
      node,
      options.dialTimeoutMs ?? DIAL_TIMEOUT_MS,
      relayListen,
      options.relayServer,
    );
  }

  /** The libp2p node, for services that need it (relay server, directory). */
  get node(): Libp2p<Services> {
    return this.#node;
  }

  /**
   * The relay server's controls (the hub raises registered exits' limits
   * through them); undefined until `start`, and without `relayServer` options.
   */
  get relayServer(): RelayServerControl | undefined {
    return this.#relayServer;
  }

  async start(): Promise<void> {
    try {
      await this.#node.start();
    } catch (error) {
      throw libp2pListenError(error) ?? error;
    }
    if (this.#relayServerOptions) {
      const service = (this.#node.services as Record<string, unknown>)[RELAY_SERVICE_NAME];
      this.#relayServer = new Libp2pRelayServerControl(service, this.#relayServerOptions);
    }
    await this.#relayKeeper?.start();
    logger.info("libp2p node {peerId} listening on {addresses}", {
      peerId: this.peerId,
      addresses: this.addresses().join(", ") || "(no addresses)",
    });
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#relayKeeper?.stop();
    await this.#node.stop();
  }

  addresses(): Multiaddr[] {
    return this.#node.getMultiaddrs().map((address) => asMultiaddr(address.toString()));
  }

  async dialAny(addresses: readonly Multiaddr[], signal?: AbortSignal): Promise<PeerId> {
    if (this.#stopping) throw new DialError("shutdown", "The node is shutting down.");
    const byPeer = groupByPeer(addresses);
    if (byPeer.size === 0) throw new DialError("none-connected", "There was no address to dial.");
    const race = new AbortController();
    const deadline = AbortSignal.timeout(this.#dialTimeoutMs);
    const combined = AbortSignal.any([race.signal, deadline, ...(signal ? [signal] : [])]);
    const attempts = [...byPeer].map(async ([peer, peerAddresses]) => {
      await this.#node.dial(peerAddresses.map((a) => multiaddr(a)), { signal: combined });
      return peer;
    });
    try {
      return await Promise.any(attempts);
    } catch (error) {
      if (this.#stopping) throw new DialError("shutdown", "The node is shutting down.");
      const reasons = error instanceof AggregateError
        ? error.errors.map(describeError)
        : [describeError(error)];
      throw new DialError(
        "none-connected",
        `No route to ${[...byPeer.keys()].join(", ")} connected: ${reasons.join("; ")}`,
        { cause: error },
      );
    } finally {
      race.abort(new Error("Another route won the dial race."));
    }
  }

  isConnected(peer: PeerId): boolean {
    return this.#openConnections(peer).length > 0;
  }

  connectedRoute(peer: PeerId): Route | undefined {
    const best = bestConnection(this.#openConnections(peer));
    return best
      ? { address: asMultiaddr(best.remoteAddr.toString()), relayed: isRelayed(best) }
      : undefined;
  }

  connections(peer: PeerId): ConnectionInfo[] {
    return this.#openConnections(peer).map(infoOf);
  }

  async open(peer: PeerId, options: OpenOptions): Promise<Libp2pDuplexStream> {
    const deadline = AbortSignal.timeout(options.timeoutMs);
    const signal = options.signal ? AbortSignal.any([deadline, options.signal]) : deadline;
    let release: (() => void) | undefined;
    try {
      release = await this.#limiter.acquire(peer, options.maxConcurrent, signal);
      const connection = bestConnection(this.#openConnections(peer));
      const streamOptions = {
        signal,
        runOnLimitedConnection: true,
        maxOutboundStreams: MAX_STREAMS_PER_CONNECTION,
      };
      if (connection) {
        const lazy = options.lazy ? await createUnnegotiatedStream(connection) : undefined;
        if (lazy) {
          lazy.protocol = options.protocol;
          return new Libp2pDuplexStream(lazy, {
            connectionOpen: () => connection.status === "open",
            lazyProtocol: options.protocol,
          });
        }
        const stream = await connection.newStream(options.protocol, streamOptions);
        return new Libp2pDuplexStream(stream, {
          connectionOpen: () => connection.status === "open",
        });
      }
      const stream = await this.#node.dialProtocol(
        toLibp2pPeerId(peer),
        options.protocol,
        streamOptions,
      );
      return new Libp2pDuplexStream(stream, { connectionOpen: () => this.isConnected(peer) });
    } catch (error) {
      throw toStreamError(error, peer, options, deadline.aborted);
    } finally {
      release?.();
    }
  }

  async handle(
    protocol: string,
    handler: StreamHandler,
    options: HandleOptions = {},
  ): Promise<void> {
    const limit = options.maxInboundStreams ?? MAX_STREAMS_PER_CONNECTION;
    await this.#node.handle(protocol, (stream, connection) => {
      handler(
        new Libp2pDuplexStream(stream, { connectionOpen: () => connection.status === "open" }),
        infoOf(connection),
      );
    }, { maxInboundStreams: limit, maxOutboundStreams: limit, runOnLimitedConnection: true });
  }

  async unhandle(protocol: string): Promise<void> {
    await this.#node.unhandle(protocol);
  }

  onConnection(listener: (event: ConnectionEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async ping(peer: PeerId, signal?: AbortSignal): Promise<number> {
    return await this.#node.services.ping.ping(toLibp2pPeerId(peer), {
      ...(signal ? { signal } : {}),
      runOnLimitedConnection: true,
    });
  }

  async hangUp(peer: PeerId): Promise<void> {
    await this.#node.hangUp(toLibp2pPeerId(peer));
  }

  #openConnections(peer: PeerId): Connection[] {
    let id: Libp2pPeerId;
    try {
      id = toLibp2pPeerId(peer);
    } catch {
      return [];
    }
    return this.#node.getConnections(id).filter((c) => c.status === "open");
  }

  #onConnection(kind: "open" | "close", connection: Connection): void {
    const info = infoOf(connection);
    if (kind === "open") this.#relayKeeper?.connectionOpened(info.peerId);
    const remaining = this.#openConnections(info.peerId).filter((c) => c !== connection).length;
    const event: ConnectionEvent = { kind, connection: info, remaining };
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        logger.error("A connection listener failed: {error}", { error: describeError(error) });
      }
    }
  }
}

/**
 * DCUtR: the peer that accepted a relayed connection dials the other one
 * directly (or both dial at once after a synchronising round trip over the
 * relay), and the relayed connection closes once a direct one is up; js-libp2p
 * dials only public addresses for it. AutoNAT: peers dial back the addresses
 * a node observes for itself, so it learns which are reachable and offers
 * those for the upgrade.
 */
function holePunchingServices(): Record<string, unknown> {
  return { dcutr: dcutr(), autoNAT: autoNAT() };
}

/** js-libp2p's Connection keeps its stream muxer in a field its types call private. */
type MuxedConnection = { readonly muxer?: Partial<StreamMuxer> };

/**
 * A new stream on `connection` with no protocol negotiated yet, for lazy select
 * (`lazy_select.ts`); undefined when this libp2p version does not expose the muxer, and the
 * caller negotiates in full instead. `connection.newStream` would wait a round trip for the
 * listener's answer (js-libp2p 3.3 has no lazy select of its own). What newStream checks
 * besides: the outbound stream limit, which the muxer enforces too (MAX_STREAMS_PER_CONNECTION),
 * and limited connections, which every p2proxy stream may use.
 */
async function createUnnegotiatedStream(connection: Connection): Promise<Stream | undefined> {
  const muxer = (connection as unknown as MuxedConnection).muxer;
  if (typeof muxer?.createStream !== "function") return undefined;
  if (connection.status !== "open" || muxer.status !== "open") {
    throw new Error(`The connection to ${connection.remotePeer} is ${connection.status}.`);
  }
  return await muxer.createStream();
}

/**
 * Parsed peer ids, by their string: parsing one (base58, multihash, public key) took 4 % of the
 * proxy's CPU per CONNECT. Cleared when full, so a stream of one-off ids cannot grow it.
 */
const parsedPeerIds = new Map<PeerId, Libp2pPeerId>();

/** Peer ids kept parsed; far above the exits a proxy uses at once. */
const PARSED_PEER_IDS_MAX = 1024;

function toLibp2pPeerId(peer: PeerId): Libp2pPeerId {
  let id = parsedPeerIds.get(peer);
  if (id === undefined) {
    id = peerIdFromString(peer);
    if (parsedPeerIds.size >= PARSED_PEER_IDS_MAX) parsedPeerIds.clear();
    parsedPeerIds.set(peer, id);
  }
  return id;
}

function infoOf(connection: Connection): ConnectionInfo {
  return {
    peerId: asPeerId(connection.remotePeer.toString()),
    address: asMultiaddr(connection.remoteAddr.toString()),
    relayed: isRelayed(connection),
    direction: connection.direction,
  };
}

/**
 * A limited connection, or one through a relay circuit: a registered exit's
 * relayed connections may carry no limits at all, and are still relayed.
 */
function isRelayed(connection: Connection): boolean {
  return connection.limits !== undefined || isRelayedAddress(connection.remoteAddr.toString());
}

/** Direct connections before relayed ones. */
function bestConnection(connections: readonly Connection[]): Connection | undefined {
  return connections.find((c) => !isRelayed(c)) ?? connections[0];
}

function groupByPeer(addresses: readonly Multiaddr[]): Map<PeerId, Multiaddr[]> {
  const byPeer = new Map<PeerId, Multiaddr[]>();
  for (const address of addresses) {
    const peer = peerIdOfAddress(address);
    if (!peer) {
      logger.warn("Skipping address {address}: it does not end in /p2p/<peer id>.", { address });
      continue;
    }
    const list = byPeer.get(peer) ?? [];
    if (!list.includes(address)) list.push(address);
    byPeer.set(peer, list);
  }
  return byPeer;
}

function toStreamError(
  error: unknown,
  peer: PeerId,
  options: OpenOptions,
  timedOut: boolean,
): StreamError {
  if (error instanceof StreamError) return error;
  const name = (error as { name?: string })?.name;
  if (name === "UnsupportedProtocolError") {
    return new StreamError(
      "unsupported-protocol",
      `Peer ${peer} does not speak ${options.protocol}.`,
      { cause: error },
    );
  }
  if (timedOut) {
    return new StreamError(
      "open-timeout",
      `Opening a stream to ${peer} took longer than ${options.timeoutMs} ms.`,
      { cause: error },
    );
  }
  return new StreamError("io", `Cannot open a stream to ${peer}: ${describeError(error)}`, {
    cause: error,
  });
}
