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
  | {
    /**
     * One account's usage since the previous such event (about once a second, only when it
     * changed; docs/limits.md#usage): what the metrics count per account.
     */
    readonly type: "account-usage";
    /** The account (`""`: sessions without one on a limited port). */
    readonly account: string;
    /** The exit country the session's filters required; `""` when none. */
    readonly country: string;
    /** Client → exit bytes. */
    readonly up: number;
    /** Exit → client bytes. */
    readonly down: number;
    /** Sessions that got an exit. */
    readonly sessions: number;
    /** Admitted sessions that got no exit. */
    readonly errors: number;
    /** Sessions refused by the account's limits. */
    readonly refused: number;
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
  | {
    /**
     * A username session's exit was gone (lost, full, or not answering after a restart), so the
     * session now leaves from another (docs/proxy-behaviour.md#sessions).
     */
    readonly type: "session-moved";
    /** The session as `<account>/<id>` (`session-<id>` of the username). */
    readonly session: string;
    /** The account it belongs to, when the username named one. */
    readonly account?: string;
    /** The exit it left from before, and the one it leaves from now. */
    readonly from: PeerId;
    readonly to: PeerId;
  }
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
    readonly transport: "tls" | "quic" | "libp2p";
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
  }
  | {
    /** A SOCKS5 UDP association began (docs/proxy-behaviour.md#udp-associate). */
    readonly type: "udp-association-start";
    /** Which end counts it: the proxy's door or the exit. */
    readonly side: "proxy" | "exit";
    readonly sessionId: string;
    /** The exit carrying it (on the exit: the proxy it serves). */
    readonly peerId: PeerId;
  }
  | {
    readonly type: "udp-association-end";
    readonly side: "proxy" | "exit";
    readonly sessionId: string;
    readonly peerId: PeerId;
    /** Datagrams and payload bytes from the client toward destinations. */
    readonly datagramsUp: number;
    readonly bytesUp: number;
    /** Datagrams and payload bytes from destinations toward the client. */
    readonly datagramsDown: number;
    readonly bytesDown: number;
    /** Datagrams dropped (fragments, over the rate or buffer bound, refused, unsolicited). */
    readonly dropped: number;
    /** Why it ended: `closed` (control connection or stream), `idle`, `error`, `shutdown`. */
    readonly reason: string;
  };

/** The `type` of every event. */
export type P2ProxyEventType = P2ProxyEvent["type"];

/** Renders a destination source as logs and the admin API show it: `pinned[0]`, `sticky`… */
export function describeSource(source: DestinationSource): string {
  return source.kind === "pinned" ? `pinned[${source.rank}]` : source.kind;
}
