/**
 * Events (docs/operations.md#events): what the core and the adapters report to the
 * log and Prometheus through the EventSink port.
 *
 * @module
 */
import type { Multiaddr, PeerId } from "./ids.ts";

/** How a server's active exit was chosen. */
export type DestinationSource =
  | { readonly kind: "pinned"; readonly rank: number }
  | { readonly kind: "sticky" }
  | { readonly kind: "discovered" }
  | { readonly kind: "manual" };

/** A candidate exit with the routes known for it. */
export interface PoolPeer {
  /** The exit's peer id. */
  readonly peerId: PeerId;
  /** Its known routes, direct ones first. */
  readonly addresses: readonly Multiaddr[];
}

/** Whether a pinned peer currently has a dialable route. */
export interface PinnedPeerStatus {
  /** The pinned exit's peer id. */
  readonly peerId: PeerId;
  /** Its place in `destination_peers` (0 is the most preferred). */
  readonly rank: number;
  /** True when a route to it is known (from the hub or the config). */
  readonly resolvable: boolean;
}

/** Every event p2proxy emits. */
export type P2ProxyEvent =
  | { readonly type: "local-peer-id"; readonly peerId: PeerId }
  | { readonly type: "connection-connecting"; readonly port?: number }
  | {
    readonly type: "connection-connected";
    readonly peerId: PeerId;
    readonly address: Multiaddr;
    readonly relayed: boolean;
  }
  | { readonly type: "connection-disconnected"; readonly peerId: PeerId }
  | {
    readonly type: "session-new";
    readonly sessionId: string;
    readonly port: number;
    readonly target: string;
    readonly peerId: PeerId;
  }
  | {
    readonly type: "session-end";
    readonly sessionId: string;
    readonly port: number;
    readonly peerId: PeerId;
    readonly bytesUp: number;
    readonly bytesDown: number;
    /** Set when the session ended on an error; the stage names where. */
    readonly error?: { readonly stage: string; readonly message: string };
  }
  | {
    /** Bytes relayed through one exit since the previous bandwidth event (about once a second). */
    readonly type: "bandwidth";
    readonly peerId: PeerId;
    /** Client → exit. */
    readonly up: number;
    /** Exit → client. */
    readonly down: number;
  }
  | { readonly type: "error"; readonly port?: number; readonly message: string }
  | { readonly type: "server-pool"; readonly port: number; readonly peers: readonly PoolPeer[] }
  | {
    readonly type: "peer-route";
    readonly peerId: PeerId;
    readonly address: Multiaddr;
    readonly relayed: boolean;
  }
  | {
    readonly type: "active-destination";
    readonly port: number;
    /** Undefined while no exit is chosen (discovery in progress). */
    readonly peerId?: PeerId;
    readonly source?: DestinationSource;
  }
  | {
    readonly type: "pinned-statuses";
    readonly port: number;
    readonly statuses: readonly PinnedPeerStatus[];
  }
  | { readonly type: "sticky-pool"; readonly port: number; readonly peers: readonly PoolPeer[] }
  // --- data plane (proxy side) ---
  | { readonly type: "socks-accepted"; readonly port: number }
  | {
    readonly type: "socks-rejected";
    readonly port: number;
    /** `no-peer`: no exit in time; `auth`: bad credentials; `handshake`: bad or slow client. */
    readonly reason: "no-peer" | "auth" | "handshake" | "unsupported";
  }
  | {
    readonly type: "session-failed";
    readonly port: number;
    /** `no-peer`: no exit in time; `stream`: could not reach it; `refused`: the exit said no. */
    readonly stage: "no-peer" | "stream" | "refused";
    /** The SOCKS reply code sent to the client. */
    readonly replyCode: number;
  }
  | { readonly type: "jit-discovery"; readonly port: number }
  | { readonly type: "stream-opened"; readonly peerId: PeerId; readonly durationMs: number }
  | {
    readonly type: "stream-open-failed";
    readonly peerId: PeerId;
    readonly code: string;
    readonly durationMs: number;
  }
  | {
    /**
     * The transport that carries a proxy's sessions to an exit was chosen or changed
     * (docs/proxy-behaviour.md#quic): QUIC, or libp2p streams and why not QUIC.
     */
    readonly type: "transport-selected";
    readonly peerId: PeerId;
    readonly transport: "quic" | "libp2p";
    /** Why not QUIC: `relayed`, `not-offered`, `unreachable`, `refused`, `no-address`, `unavailable`. */
    readonly reason?: string;
  }
  | { readonly type: "ping"; readonly peerId: PeerId; readonly rttMs: number }
  | { readonly type: "ping-failed"; readonly peerId: PeerId; readonly strikes: number }
  // --- hub ---
  | {
    /** The hub's counters, about every 5 s (totals since start; gauges as of now). */
    readonly type: "hub-stats";
    readonly registeredExits: number;
    readonly relayReservations: number;
    readonly raisedRelayLimits: number;
    readonly expiredExits: number;
    readonly registrations: number;
    readonly finds: number;
    readonly resolves: number;
    readonly exitsReturned: number;
    /** Refused or reset requests by code. */
    readonly errors: Readonly<Record<string, number>>;
  }
  // --- exit side ---
  | {
    /** An exit's registration with one hub: each success (every heartbeat) and each failure. */
    readonly type: "hub-registration";
    readonly hub: PeerId;
    /** True when this attempt succeeded. */
    readonly registered: boolean;
    /** Failed attempts in a row (0 after a success). */
    readonly failures: number;
    /** Why the attempt failed, when it did. */
    readonly error?: string;
  }
  | {
    readonly type: "exit-session-start";
    readonly sessionId: string;
    readonly peerId: PeerId;
    readonly target: string;
  }
  | {
    readonly type: "exit-session-end";
    readonly sessionId: string;
    readonly peerId: PeerId;
    /** Bytes from the proxy toward the destination. */
    readonly bytesUp: number;
    /** Bytes from the destination toward the proxy. */
    readonly bytesDown: number;
  }
  | {
    readonly type: "exit-denied";
    readonly peerId: PeerId;
    readonly target: string;
    /** An egress deny reason, `auth`, `limit`, or a connect failure (`refused`, `dns`…). */
    readonly reason: string;
    /** What the exit told the proxy, for people (the log line). */
    readonly message?: string;
  };

/** The `type` of every event. */
export type P2ProxyEventType = P2ProxyEvent["type"];

/** Renders a destination source as logs and the admin API show it: `pinned[0]`, `sticky`… */
export function describeSource(source: DestinationSource): string {
  return source.kind === "pinned" ? `pinned[${source.rank}]` : source.kind;
}
