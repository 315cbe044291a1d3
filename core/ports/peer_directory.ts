/**
 * The hub's directory, as the proxy sees it: find exits by filter, resolve peer
 * ids to current routes.
 *
 * @module
 */
import { P2proxyError } from "../errors.ts";
import type { Multiaddr, PeerId } from "../ids.ts";
import type { ExitAttributes, ServerFilters } from "../domain/attributes.ts";

/** One exit as the directory knows it. */
export interface PeerRecord {
  /** The exit's peer id. */
  readonly peerId: PeerId;
  /** Dialable routes, each ending in `/p2p/<peerId>`; direct and relayed mixed. */
  readonly routes: readonly Multiaddr[];
  /** What the exit registered about itself, when the directory returns it. */
  readonly attributes?: ExitAttributes;
}

/** A `FindNodes` query. */
export interface FindNodesQuery {
  /** What a returned exit must match. */
  readonly filters: ServerFilters;
  /** At most this many records (the hub caps it at 100). */
  readonly limit: number;
  /** Peers not to return (e.g. the one just lost). */
  readonly exclude: readonly PeerId[];
}

/** Finds and resolves exits. */
export interface PeerDirectory {
  /** Exits matching the query, in the directory's order (direct routes first). */
  findNodes(query: FindNodesQuery, signal?: AbortSignal): Promise<PeerRecord[]>;
  /** Current routes of each known id; unknown ids are absent from the map. */
  resolvePeers(ids: readonly PeerId[], signal?: AbortSignal): Promise<Map<PeerId, Multiaddr[]>>;
  /**
   * What the directory says about each known id: its routes and, when the
   * hub sends them, its attributes (a manual choice is checked against a
   * port's filters with them). Unknown ids are absent from the map.
   */
  describePeers(ids: readonly PeerId[], signal?: AbortSignal): Promise<Map<PeerId, PeerRecord>>;
  /**
   * Set when this directory can never answer (a proxy with no hub configured), saying why: a
   * port that pins no exit then answers its clients at once instead of discovering forever.
   */
  readonly unavailable?: string;
}

/** Why a directory query failed. */
export type DirectoryErrorCode =
  /** No answer in time. */
  | "timeout"
  /** The hub answered with an error (bad request, not authorised…). */
  | "rejected"
  /** The hub does not speak this query: the caller synthesises relay circuits instead. */
  | "unsupported"
  /** No hub is configured or reachable at all. */
  | "unavailable";

/** A failed directory query. */
export class DirectoryError extends P2proxyError<DirectoryErrorCode> {}
