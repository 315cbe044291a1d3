/**
 * Persistence of the sticky pools and of username sessions. The pool logic itself is pure and
 * lives in `domain/sticky_state.ts`, the sessions' in the proxy's discovery actor; a store only
 * loads and saves their records.
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

/** Current version of the persisted sessions record. */
export const STICKY_SESSIONS_VERSION = 1;

/**
 * One username session (`session-<id>`, docs/proxy-behaviour.md#sessions): the exit it leaves
 * from, and how long it may rest unused before it ends.
 */
export interface StickySessionRecord {
  /** The exit's peer id. */
  readonly peer_id: string;
  /** The account the session belongs to (bounded per account), or null. */
  readonly owner: string | null;
  /** Unused this long (milliseconds), the session ends: the username's `ttl`. */
  readonly idle_ms: number;
  /** When the session was last used, in milliseconds since the Unix epoch. */
  readonly used_at: number;
}

/** Every remembered session, keyed by the selection it was made for (filters and session id). */
export interface StickySessionsRecord {
  /** The format version ({@link STICKY_SESSIONS_VERSION}). */
  readonly version: typeof STICKY_SESSIONS_VERSION;
  /** Keyed by selection key (`core/domain/fingerprint.ts` `selectionKey`). */
  readonly sessions: Readonly<Record<string, StickySessionRecord>>;
}

/** An empty sessions record. */
export function emptyStickySessionsRecord(): StickySessionsRecord {
  return { version: STICKY_SESSIONS_VERSION, sessions: {} };
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
  /**
   * The saved sessions, or an empty record when there are none or they cannot be read. Optional:
   * a store without `loadSessions` and `saveSessions` keeps sessions in memory only (they end
   * with the process). A store offers both or neither.
   */
  loadSessions?(): Promise<StickySessionsRecord>;
  /**
   * Replaces the saved sessions, independently of the pools' record; resolves even when saving
   * failed (after logging).
   */
  saveSessions?(record: StickySessionsRecord): Promise<void>;
}
