/**
 * Persistence of the sticky pools. The pool logic itself is pure and lives in
 * `domain/sticky_state.ts`; a store only loads and saves its record.
 *
 * @module
 */

/** Current version of the persisted record. */
export const STICKY_RECORD_VERSION = 1;

/** One remembered exit. */
export interface StickyPeerRecord {
  /** The exit's peer id. */
  readonly peer_id: string;
  /** Last known direct address, if one was observed. */
  readonly address: string | null;
  /** Milliseconds since the Unix epoch. */
  readonly updated_at: number;
}

/** The remembered pool of one server. */
export interface StickyServerRecord {
  /** The server's filter fingerprint when the pool was chosen. */
  readonly fingerprint: string;
  /** Most recently used first. */
  readonly peers: readonly StickyPeerRecord[];
}

/** Everything a sticky store holds (the file format of `sticky_peers.json`). */
export interface StickyRecord {
  /** The format version ({@link STICKY_RECORD_VERSION}). */
  readonly version: typeof STICKY_RECORD_VERSION;
  /** Keyed by port number in decimal. */
  readonly servers: Readonly<Record<string, StickyServerRecord>>;
}

/** An empty record. */
export function emptyStickyRecord(): StickyRecord {
  return { version: STICKY_RECORD_VERSION, servers: {} };
}

/**
 * Loads and saves the sticky record. Implementations never throw for a
 * missing, corrupt or old-version record (they start empty and warn) and
 * treat save failures as non-fatal (log, resolve).
 */
export interface StickyStore {
  /** The saved record, or an empty one when there is none or it cannot be read. */
  load(): Promise<StickyRecord>;
  /** Replaces the saved record; resolves even when saving failed (after logging). */
  save(record: StickyRecord): Promise<void>;
}
