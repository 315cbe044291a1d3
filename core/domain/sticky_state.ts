/**
 * The sticky pools, as pure state: per server (SOCKS port), the filter
 * fingerprint the pool was chosen under and a most-recently-used list of
 * exits with their last known direct address. The discovery actor owns one
 * instance and persists `toRecord()` through the StickyStore port whenever
 * `dirty` is set.
 *
 * @module
 */
import { asMultiaddr, asPeerId, isRelayedAddress, type Multiaddr, type PeerId } from "../ids.ts";
import type { PoolPeer } from "../events.ts";
import {
  STICKY_RECORD_VERSION,
  type StickyPeerRecord,
  type StickyRecord,
  type StickyServerRecord,
} from "../ports/sticky_store.ts";

/** One remembered exit. */
export interface StickyEntry {
  /** The exit. */
  readonly peerId: PeerId;
  /** Last direct address observed for the exit, if any. */
  readonly address?: Multiaddr;
  /** Milliseconds since the Unix epoch of the last use or observation. */
  readonly updatedAt: number;
}

interface Pool {
  fingerprint: string;
  /** Most recently used first, no duplicates. */
  peers: StickyEntry[];
}

const HIGHEST_PORT = 65_535;

/**
 * Per-port MRU pools of exits. Every mutation bumps `revision`; the actor
 * saves when `dirty` and then calls `markClean(revisionItSaved)`.
 *
 * @example
 * ```ts
 * const state = new StickyState();
 * state.remember(1080, "fp", peer, 30, clock.now());
 * state.pool(1080, "fp"); // [peer]
 * ```
 */
export class StickyState {
  readonly #pools = new Map<number, Pool>();
  #revision = 0;
  #cleanRevision = 0;

  /** Counts mutations since the state was created. */
  get revision(): number {
    return this.#revision;
  }

  /** True when something changed since the last `markClean`. */
  get dirty(): boolean {
    return this.#revision !== this.#cleanRevision;
  }

  /**
   * Records that the state as of `revision` (default: now) has been saved.
   * Pass the revision read before `toRecord()` so that a change made while the
   * save was in flight keeps the state dirty.
   */
  markClean(revision: number = this.#revision): void {
    this.#cleanRevision = Math.min(revision, this.#revision);
  }

  /** Ports that have a pool. */
  ports(): number[] {
    return [...this.#pools.keys()].sort((a, b) => a - b);
  }

  /**
   * The remembered exits of `port`, most recently used first. When the
   * server's filters changed since the pool was chosen (another fingerprint),
   * the pool is dropped for good and the answer is empty.
   */
  pool(port: number, fingerprint: string): PeerId[] {
    const pool = this.#pools.get(port);
    if (pool === undefined) return [];
    if (pool.fingerprint !== fingerprint) {
      this.#pools.delete(port);
      this.#touch();
      return [];
    }
    return pool.peers.map((entry) => entry.peerId);
  }

  /** The last direct address observed for `peer` in `port`'s pool. */
  directAddress(port: number, peer: PeerId): Multiaddr | undefined {
    return this.#pools.get(port)?.peers.find((entry) => entry.peerId === peer)?.address;
  }

  /**
   * Moves `peer` to the front of `port`'s pool (adding it if new, keeping its
   * address), keeps at most `max` exits (at least 1), and starts the pool over
   * when the fingerprint changed. Returns true when the front of the pool changed.
   */
  remember(port: number, fingerprint: string, peer: PeerId, max: number, now: number): boolean {
    const pool = this.#poolFor(port, fingerprint);
    const wasFront = pool.peers[0]?.peerId === peer;
    const index = pool.peers.findIndex((entry) => entry.peerId === peer);
    const previous = index >= 0 ? pool.peers.splice(index, 1)[0] : undefined;
    pool.peers.unshift({ ...previous, peerId: peer, updatedAt: now });
    pool.peers.length = Math.min(pool.peers.length, capacity(max));
    this.#touch();
    return !wasFront;
  }

  /**
   * Records a direct address just observed for `peer` in every pool that
   * already holds it. Never adds a peer: a node we merely connected to (the
   * hub, a relay) must not become an exit. Relay circuits are not direct
   * addresses and are ignored. Returns true when something changed.
   */
  noteDirectAddress(peer: PeerId, address: Multiaddr, now: number): boolean {
    if (!address || isRelayedAddress(address)) return false;
    let changed = false;
    for (const pool of this.#pools.values()) {
      const index = pool.peers.findIndex((entry) => entry.peerId === peer);
      const entry = pool.peers[index];
      if (entry === undefined || entry.address === address) continue;
      pool.peers[index] = { ...entry, address, updatedAt: now };
      changed = true;
    }
    if (changed) this.#touch();
    return changed;
  }

  /** Drops `peer` from `port`'s pool (and the pool when it empties). Returns true when it was there. */
  forgetPeer(port: number, peer: PeerId): boolean {
    const pool = this.#pools.get(port);
    if (pool === undefined) return false;
    const kept = pool.peers.filter((entry) => entry.peerId !== peer);
    if (kept.length === pool.peers.length) return false;
    if (kept.length === 0) this.#pools.delete(port);
    else pool.peers = kept;
    this.#touch();
    return true;
  }

  /**
   * Drops `peer` from every pool: an exit that does not speak the connect
   * protocol. Returns the ports whose pool changed.
   */
  forgetEverywhere(peer: PeerId): number[] {
    return this.ports().filter((port) => this.forgetPeer(port, peer));
  }

  /**
   * The pool of `port` for display (the `sticky-pool` event): each exit with
   * its direct address. Never invalidates; with a `fingerprint`, a pool chosen
   * under other filters reads as empty.
   */
  snapshot(port: number, fingerprint?: string): PoolPeer[] {
    const pool = this.#pools.get(port);
    if (pool === undefined) return [];
    if (fingerprint !== undefined && pool.fingerprint !== fingerprint) return [];
    return pool.peers.map((entry) => ({
      peerId: entry.peerId,
      addresses: entry.address === undefined ? [] : [entry.address],
    }));
  }

  /** The remembered entries of `port` (most recent first), for inspection and persistence. */
  entries(port: number): StickyEntry[] {
    return [...(this.#pools.get(port)?.peers ?? [])];
  }

  /** The persisted form (`sticky_peers.json`), ports in ascending order. */
  toRecord(): StickyRecord {
    const servers: Record<string, StickyServerRecord> = {};
    for (const port of this.ports()) {
      const pool = this.#pools.get(port);
      if (pool === undefined) continue;
      servers[String(port)] = {
        fingerprint: pool.fingerprint,
        peers: pool.peers.map(toPeerRecord),
      };
    }
    return { version: STICKY_RECORD_VERSION, servers };
  }

  /**
   * Rebuilds the state from a persisted record. Tolerant: a record of another
   * version, or anything that is not a record, gives an empty state; a bad
   * port, pool or peer entry is skipped; a bad address or timestamp is dropped
   * from an otherwise good peer. The result is clean (nothing to save).
   */
  static fromRecord(record: unknown): StickyState {
    const state = new StickyState();
    if (!isObject(record) || record.version !== STICKY_RECORD_VERSION) return state;
    if (!isObject(record.servers)) return state;
    for (const [key, value] of Object.entries(record.servers)) {
      const port = parsePort(key);
      const pool = parsePool(value);
      if (port === undefined || pool === undefined) continue;
      state.#pools.set(port, pool);
    }
    return state;
  }

  #poolFor(port: number, fingerprint: string): Pool {
    const existing = this.#pools.get(port);
    if (existing !== undefined && existing.fingerprint === fingerprint) return existing;
    const fresh: Pool = { fingerprint, peers: [] };
    this.#pools.set(port, fresh);
    return fresh;
  }

  #touch(): void {
    this.#revision++;
  }
}

function capacity(max: number): number {
  return Number.isFinite(max) && max >= 1 ? Math.floor(max) : 1;
}

function toPeerRecord(entry: StickyEntry): StickyPeerRecord {
  return { peer_id: entry.peerId, address: entry.address ?? null, updated_at: entry.updatedAt };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parsePort(key: string): number | undefined {
  if (!/^[0-9]{1,5}$/.test(key)) return undefined;
  const port = Number(key);
  return port >= 1 && port <= HIGHEST_PORT ? port : undefined;
}

function parsePool(value: unknown): Pool | undefined {
  if (!isObject(value) || typeof value.fingerprint !== "string") return undefined;
  if (!Array.isArray(value.peers)) return undefined;
  const peers: StickyEntry[] = [];
  const seen = new Set<string>();
  for (const raw of value.peers) {
    const entry = parseEntry(raw);
    if (entry === undefined || seen.has(entry.peerId)) continue;
    seen.add(entry.peerId);
    peers.push(entry);
  }
  return peers.length === 0 ? undefined : { fingerprint: value.fingerprint, peers };
}

function parseEntry(raw: unknown): StickyEntry | undefined {
  if (!isObject(raw) || typeof raw.peer_id !== "string" || !isPeerIdShaped(raw.peer_id)) {
    return undefined;
  }
  const updatedAt = typeof raw.updated_at === "number" && Number.isFinite(raw.updated_at)
    ? raw.updated_at
    : 0;
  const address = typeof raw.address === "string" && isDirectAddressShaped(raw.address)
    ? asMultiaddr(raw.address)
    : undefined;
  const peerId = asPeerId(raw.peer_id);
  return address === undefined ? { peerId, updatedAt } : { peerId, address, updatedAt };
}

/** Cheap shape check; full validation of ids happens at the edges. */
function isPeerIdShaped(value: string): boolean {
  return /^[A-Za-z0-9]{20,128}$/.test(value);
}

function isDirectAddressShaped(value: string): boolean {
  return value.startsWith("/") && value.length > 1 && !isRelayedAddress(value);
}
