/**
 * The part of a proxy server's configuration that exit selection needs.
 * The config schema produces a superset of this shape.
 *
 * @module
 */
import type { Multiaddr, PeerId } from "../ids.ts";
import type { ServerFilters } from "./attributes.ts";

/** One entry of `destination_peers`: a peer id, and the verbatim multiaddr when one was given. */
export interface PinnedPeer {
  readonly peerId: PeerId;
  readonly address?: Multiaddr;
}

/** How a lost sticky exit is treated: retried with backoff, or rotated away from at once. */
export type StickyReconnect = "with-backoff" | "fail-fast";

/** What the connect algorithm needs to know about one server (one SOCKS port). */
export interface ExitSelectionSettings {
  readonly port: number;
  readonly filters: ServerFilters;
  /** Ordered: rank 0 is the most preferred. Empty means discovery. */
  readonly pinned: readonly PinnedPeer[];
  readonly fallbackToDiscovery: boolean;
  readonly sticky: boolean;
  readonly stickyReconnect: StickyReconnect;
  /** Maximum size of the sticky pool, and per-peer concurrent stream opens. */
  readonly poolMaxTotal: number;
}
