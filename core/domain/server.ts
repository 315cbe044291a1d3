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
  /** The pinned exit's peer id. */
  readonly peerId: PeerId;
  /** The multiaddr as written in the config (ending in `/p2p/<id>`), dialled besides hub routes. */
  readonly address?: Multiaddr;
}

/** How a lost sticky exit is treated: retried with backoff, or rotated away from at once. */
export type StickyReconnect = "with-backoff" | "fail-fast";

/** What the connect algorithm needs to know about one server (one SOCKS port). */
export interface ExitSelectionSettings {
  /** The SOCKS port; it names the server in events and in the sticky store. */
  readonly port: number;
  /** What an exit must match to be discovered for this server. */
  readonly filters: ServerFilters;
  /** Ordered: rank 0 is the most preferred. Empty means discovery. */
  readonly pinned: readonly PinnedPeer[];
  /** With pinned exits: discover others once every pinned exit failed (false: hard pin). */
  readonly fallbackToDiscovery: boolean;
  /** Remember exits that worked in the sticky pool and try them first. */
  readonly sticky: boolean;
  /** How a lost sticky exit is treated. */
  readonly stickyReconnect: StickyReconnect;
  /** Maximum size of the sticky pool, and per-peer concurrent stream opens. */
  readonly poolMaxTotal: number;
  /**
   * Spreads servers over the matching exits: discovery tries first the candidate this key
   * hashes to (a username's session id, so different ids land on different exits), then the
   * rest. Absent: every candidate at once, the first to answer wins.
   */
  readonly spreadKey?: string;
}

/**
 * Exit selection given with a session instead of by the port it came in on: the client
 * library's per-call filters, or a username's `-country-de-session-abc`. Sessions asking for the
 * same selection share one exit while it lives (docs/client.md#sessions).
 */
export interface ExitSelection {
  /** What the exit must match. */
  readonly filters: ServerFilters;
  /**
   * A session id: every session with this id (and these filters) leaves through the same exit
   * while the id is in use; different ids may land on different exits. Absent: the filter set's
   * shared exit.
   */
  readonly session?: string;
  /**
   * How long the selection lives unused (a username's `ttl`); absent: the proxy's default
   * (10 minutes).
   */
  readonly idleMs?: number;
  /**
   * Who the selection belongs to (a username's account): each owner keeps a bounded number of
   * selections, dropping its least recently used one past the bound.
   */
  readonly owner?: string;
}
