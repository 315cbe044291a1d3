/**
 * The node's place in the peer-to-peer network, owned by the network actor
 * (the libp2p plugin): dialing, streams, protocol handlers, connection
 * events and liveness pings.
 *
 * @module
 */
import type { Multiaddr, PeerId } from "../ids.ts";
import type { Dialer } from "./dialer.ts";
import type { RelayServerControl } from "./relay_server.ts";
import type { DuplexStream, StreamOpener } from "./stream_opener.ts";

/** One connection to a peer. */
export interface ConnectionInfo {
  /** The remote peer. */
  readonly peerId: PeerId;
  /** The remote address of this connection. */
  readonly address: Multiaddr;
  /** True for a circuit-relayed (limited) connection. */
  readonly relayed: boolean;
  /** Who dialled: the remote peer (`inbound`) or this node (`outbound`). */
  readonly direction: "inbound" | "outbound";
}

/** A connection opened or closed; `remaining` counts the peer's other open connections. */
export interface ConnectionEvent {
  /** Whether the connection opened or closed. */
  readonly kind: "open" | "close";
  /** The connection itself. */
  readonly connection: ConnectionInfo;
  /** Open connections to the peer after this event: a peer is lost only when it reaches 0. */
  readonly remaining: number;
}

/** Handles one inbound stream of a protocol. */
export type StreamHandler = (stream: DuplexStream, remote: ConnectionInfo) => void;

/** Options of a protocol handler. */
export interface HandleOptions {
  /** Concurrent inbound streams of this protocol on one connection. */
  readonly maxInboundStreams?: number;
}

/** The network actor's surface. */
export interface NetworkNode extends Dialer, StreamOpener {
  /** This node's peer id. */
  readonly peerId: PeerId;
  /** Addresses others can dial this node at, each ending in `/p2p/<peerId>`. */
  addresses(): Multiaddr[];
  /** Serves a protocol. Streams run on relayed connections too. */
  handle(protocol: string, handler: StreamHandler, options?: HandleOptions): Promise<void>;
  /** Stops serving a protocol; streams already open keep running. */
  unhandle(protocol: string): Promise<void>;
  /** Subscribes to connection open/close; returns the unsubscribe function. */
  onConnection(listener: (event: ConnectionEvent) => void): () => void;
  /** Open connections to a peer. */
  connections(peer: PeerId): ConnectionInfo[];
  /** Round-trip time of one ping, in ms. Rejects on failure or abort. */
  ping(peer: PeerId, signal?: AbortSignal): Promise<number>;
  /** Closes every connection to a peer. */
  hangUp(peer: PeerId): Promise<void>;
  /** The circuit relay server this node runs (a hub's), once started; undefined when it runs none. */
  readonly relayServer?: RelayServerControl;
}
