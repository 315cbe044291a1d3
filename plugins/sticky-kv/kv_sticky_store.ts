/**
 * The sticky store kept in Deno KV, so that several processes (or a
 * serverless deployment) share one set of pools (docs/proxy-behaviour.md#sticky-store).
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { serialize } from "node:v8";
import { describeError, P2proxyError } from "../../core/errors.ts";
import {
  STICKY_RECORD_VERSION,
  STICKY_SESSIONS_VERSION,
  type StickyRecord,
  type StickyServerRecord,
  type StickySessionRecord,
  type StickySessionsRecord,
  type StickyStore,
} from "../../core/ports/sticky_store.ts";
import { LatestWriter } from "../_shared/latest_writer.ts";
import { isPortKey, parseServerRecord } from "../_shared/sticky_record.ts";
import { MAX_STORED_SESSIONS, parseSessionEntry } from "../_shared/sticky_sessions.ts";

const logger = getLogger(["p2proxy", "sticky-kv"]);

/** Every key this store writes starts with this; the port number follows. */
export const STICKY_KV_PREFIX = ["p2proxy", "sticky"] as const;

/**
 * Largest value written, in V8-serialised bytes. Deno KV refuses values over
 * 64 KiB (65 536 bytes, measured with `node:v8` `serialize`, the format KV
 * stores); the margin covers framing differences between Deno versions.
 */
const MAX_VALUE_BYTES = 65_000;

/** Each username session is kept under this prefix and its selection key. */
export const STICKY_SESSIONS_KV_PREFIX = ["p2proxy", "sticky-sessions"] as const;

/** Longest selection key stored (UTF-8 bytes): Deno KV keys are at most 2 KiB in all. */
const MAX_SESSION_KEY_BYTES = 1_800;

/** Mutations per atomic operation when replacing the sessions (Deno KV allows 1000). */
const SESSION_MUTATIONS_PER_COMMIT = 500;

/** Deno KV allows at most 100 checks in one atomic operation (measured on Deno 2.9). */
const MAX_ATOMIC_CHECKS = 100;

/** Tries of one save when another process commits in between (optimistic concurrency). */
const MAX_COMMIT_ATTEMPTS = 5;

/** Why the KV store could not be used. */
export type KvStickyStoreErrorCode = "unavailable";

type Entries = ReadonlyMap<number, StickyServerRecord>;

/**
 * Keeps each server's pool under `["p2proxy", "sticky", <port>]`. A save
 * replaces the whole set in one atomic operation (ports no longer present are
 * deleted), guarded by version checks so that a concurrent writer in another
 * process makes it retry rather than interleave: the last save wins. Saves
 * within the process are serialised and coalesced. Pools too large for one KV
 * value keep their most recent peers, with a warning. Read and write failures
 * are logged, never thrown.
 */
export class KvStickyStore implements StickyStore {
  /** Where the database lives (a path, `:memory:` or a URL), for messages. */
  readonly location: string;
  readonly #kv: Deno.Kv;
  readonly #writer: LatestWriter<Entries>;
  readonly #sessionsWriter: LatestWriter<ReadonlyMap<string, StickySessionRecord>>;
  /** Ports whose truncation was already reported at warning level. */
  readonly #truncatedPorts = new Set<number>();
  #warnedAboutEntries = false;
  #failing = false;
  #closed = false;

  /** A store over an open database; `close()` closes it. Prefer `KvStickyStore.open`. */
  constructor(kv: Deno.Kv, location: string) {
    this.#kv = kv;
    this.location = location;
    this.#writer = new LatestWriter(
      (entries) => this.#write(entries),
      (error) =>
        logger.error("Unexpected failure saving to {location}: {error}", this.#fields(error)),
    );
    this.#sessionsWriter = new LatestWriter(
      (sessions) => this.#writeSessions(sessions),
      (error) =>
        logger.error(
          "Unexpected failure saving sessions to {location}: {error}",
          this.#fields(error),
        ),
    );
  }

  /** Every stored session; entries that are not valid sessions are skipped with one warning. */
  async loadSessions(): Promise<StickySessionsRecord> {
    await this.#sessionsWriter.idle();
    const kept: [string, StickySessionRecord][] = [];
    const skipped: string[] = [];
    try {
      for await (const entry of this.#kv.list({ prefix: [...STICKY_SESSIONS_KV_PREFIX] })) {
        const key = entry.key[STICKY_SESSIONS_KV_PREFIX.length];
        const parsed = typeof key === "string" && entry.key.length === 3
          ? parseSessionEntry(key, entry.value)
          : "its key is not a selection key";
        if (typeof parsed === "string") skipped.push(`${String(key).slice(0, 80)}: ${parsed}`);
        else if (kept.length < MAX_STORED_SESSIONS) kept.push([key as string, parsed]);
      }
    } catch (error) {
      logger.warn(
        "Could not read the sessions of {location} ({error}); sessions start afresh.",
        this.#fields(error),
      );
      return { version: STICKY_SESSIONS_VERSION, sessions: {} };
    }
    if (skipped.length > 0) {
      logger.warn("Skipped {count} bad sessions of {location}: {entries}.", {
        location: this.location,
        count: skipped.length,
        entries: skipped.slice(0, 5).join("; "),
      });
    }
    return { version: STICKY_SESSIONS_VERSION, sessions: Object.fromEntries(kept) };
  }

  /** Replaces the stored sessions with a snapshot of `record`; never rejects. */
  saveSessions(record: StickySessionsRecord): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const sessions = new Map<string, StickySessionRecord>();
    for (const [key, session] of Object.entries(record.sessions)) {
      if (new TextEncoder().encode(key).byteLength > MAX_SESSION_KEY_BYTES) {
        logger.debug("Not saving session {key}: its key is too long for Deno KV.", {
          key: key.slice(0, 80),
        });
        continue;
      }
      sessions.set(key, { ...session });
    }
    return this.#sessionsWriter.write(sessions);
  }

  /** Deletes sessions no longer present and writes the rest, a bounded batch per commit. */
  async #writeSessions(sessions: ReadonlyMap<string, StickySessionRecord>): Promise<void> {
    try {
      const stale: Deno.KvKey[] = [];
      for await (const entry of this.#kv.list({ prefix: [...STICKY_SESSIONS_KV_PREFIX] })) {
        const key = entry.key[STICKY_SESSIONS_KV_PREFIX.length];
        if (typeof key !== "string" || !sessions.has(key)) stale.push(entry.key);
      }
      const mutations: ((op: Deno.AtomicOperation) => void)[] = [
        ...stale.map((key) => (op: Deno.AtomicOperation) => op.delete(key)),
        ...[...sessions].map(([key, session]) => (op: Deno.AtomicOperation) =>
          op.set([...STICKY_SESSIONS_KV_PREFIX, key], session)
        ),
      ];
      for (let start = 0; start < mutations.length; start += SESSION_MUTATIONS_PER_COMMIT) {
        const op = this.#kv.atomic();
        for (const mutate of mutations.slice(start, start + SESSION_MUTATIONS_PER_COMMIT)) {
          mutate(op);
        }
        const result = await op.commit();
        if (!result.ok) throw new Error("the commit was refused");
      }
    } catch (error) {
      logger.warn(
        "Could not save the sessions to {location} ({error}); they are kept in memory.",
        this.#fields(error),
      );
    }
  }

  /** Opens the database at `location`; throws a `P2proxyError` `unavailable` naming it when that fails. */
  static async open(location: string): Promise<KvStickyStore> {
    try {
      return new KvStickyStore(await Deno.openKv(location), location);
    } catch (error) {
      throw new P2proxyError<KvStickyStoreErrorCode>(
        "unavailable",
        `Could not open the Deno KV sticky store "${location}": ${describeError(error)}. ` +
          "Check that its folder exists and that p2proxy may read and write it " +
          "(and that Deno KV is enabled with --unstable-kv).",
        { cause: error },
      );
    }
  }

  /** Every stored pool; entries that are not valid pools are skipped with one warning. */
  async load(): Promise<StickyRecord> {
    await this.#writer.idle();
    const servers: Record<string, StickyServerRecord> = {};
    const skipped: string[] = [];
    try {
      for await (const entry of this.#kv.list({ prefix: [...STICKY_KV_PREFIX] })) {
        const port = portOfKey(entry.key);
        if (port === undefined) {
          skipped.push(`key ${JSON.stringify(entry.key.map(String))} does not end in a port`);
          continue;
        }
        const parsed = parseServerRecord(entry.value, `server ${port}`);
        skipped.push(...parsed.skipped);
        if (parsed.server) servers[String(port)] = parsed.server;
      }
    } catch (error) {
      logger.warn(
        "Could not read the sticky store {location} ({error}); starting with empty pools.",
        this.#fields(error),
      );
      return { version: STICKY_RECORD_VERSION, servers: {} };
    }
    if (skipped.length > 0 && !this.#warnedAboutEntries) {
      this.#warnedAboutEntries = true;
      logger.warn(
        "Skipped {count} bad entries of the sticky store {location}: {entries}. " +
          "They will be replaced on the next save.",
        { location: this.location, count: skipped.length, entries: skipped.slice(0, 5).join("; ") },
      );
    }
    return { version: STICKY_RECORD_VERSION, servers };
  }

  /**
   * Saves a snapshot of `record` (taken now). Resolves once it, or a newer
   * save, is committed or has failed; never rejects.
   */
  save(record: StickyRecord): Promise<void> {
    if (this.#closed) {
      logger.warn("Ignoring a save to the closed sticky store {location}.", {
        location: this.location,
      });
      return Promise.resolve();
    }
    return this.#writer.write(this.#snapshot(record));
  }

  /** Resolves once every queued save has finished. */
  async flush(): Promise<void> {
    await Promise.all([this.#writer.idle(), this.#sessionsWriter.idle()]);
  }

  /** Finishes queued saves and closes the database. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([this.#writer.idle(), this.#sessionsWriter.idle()]);
    this.#kv.close();
  }

  /** The entries to write, copied and bounded to what one KV value can hold. */
  #snapshot(record: StickyRecord): Entries {
    const entries = new Map<number, StickyServerRecord>();
    for (const [key, server] of Object.entries(record.servers)) {
      if (!isPortKey(key)) {
        logger.warn("Not saving sticky pool {key}: it is not a port number.", { key });
        continue;
      }
      const port = Number(key);
      const bounded = this.#bound(port, structuredClone(server));
      if (bounded) entries.set(port, bounded);
    }
    return entries;
  }

  #bound(port: number, server: StickyServerRecord): StickyServerRecord | undefined {
    if (serializedBytes(server) <= MAX_VALUE_BYTES) {
      this.#truncatedPorts.delete(port);
      return server;
    }
    const kept = largestFittingPrefix(server);
    const firstTime = !this.#truncatedPorts.has(port);
    this.#truncatedPorts.add(port);
    const fields = {
      location: this.location,
      port,
      kept: kept?.peers.length ?? 0,
      total: server.peers.length,
      maxBytes: MAX_VALUE_BYTES,
    };
    const message = kept
      ? "The sticky pool of port {port} is too large for one Deno KV value ({maxBytes} bytes): " +
        "keeping its {kept} most recent of {total} peers in {location}."
      : "The sticky pool of port {port} does not fit in one Deno KV value ({maxBytes} bytes) " +
        "even without peers (its fingerprint is too long); not saving it to {location}.";
    if (firstTime) logger.warn(message, fields);
    else logger.debug(message, fields);
    return kept;
  }

  async #write(entries: Entries): Promise<void> {
    try {
      for (let attempt = 1; attempt <= MAX_COMMIT_ATTEMPTS; attempt++) {
        if (await this.#commit(entries)) {
          if (this.#failing) {
            logger.info("The sticky store {location} is saved again.", { location: this.location });
          }
          this.#failing = false;
          this.#warnedAboutEntries = false;
          return;
        }
        logger.debug("Another writer changed {location}; retrying the save ({attempt}).", {
          location: this.location,
          attempt,
        });
      }
      throw new Error(`${MAX_COMMIT_ATTEMPTS} attempts were overtaken by other writers`);
    } catch (error) {
      if (this.#failing) {
        logger.debug(
          "Saving the sticky store {location} failed again: {error}",
          this.#fields(error),
        );
      } else {
        logger.warn(
          "Could not save the sticky store {location} ({error}). The pools are kept in memory.",
          this.#fields(error),
        );
      }
      this.#failing = true;
    }
  }

  /** One optimistic attempt: true when committed, false when another writer got in between. */
  async #commit(entries: Entries): Promise<boolean> {
    const existing: Deno.KvEntry<unknown>[] = [];
    for await (const entry of this.#kv.list({ prefix: [...STICKY_KV_PREFIX] })) {
      existing.push(entry);
    }
    const existingPorts = new Set(existing.map((entry) => portOfKey(entry.key)));
    const newPorts = [...entries.keys()].filter((port) => !existingPorts.has(port));

    const op = this.#kv.atomic();
    // Past the check limit the save still lands whole, but a concurrent writer's new ports may survive it.
    if (existing.length + newPorts.length <= MAX_ATOMIC_CHECKS) {
      for (const entry of existing) op.check(entry);
      for (const port of newPorts) op.check({ key: keyOf(port), versionstamp: null });
    }
    for (const entry of existing) {
      const port = portOfKey(entry.key);
      if (port === undefined || !entries.has(port)) op.delete(entry.key);
    }
    for (const [port, server] of entries) op.set(keyOf(port), server);
    const result = await op.commit();
    return result.ok;
  }

  #fields(error: unknown): Record<string, unknown> {
    return { location: this.location, error: describeError(error) };
  }
}

function keyOf(port: number): Deno.KvKey {
  return [...STICKY_KV_PREFIX, port];
}

/** The port of a key written by this store, or undefined for anything else under the prefix. */
function portOfKey(key: Deno.KvKey): number | undefined {
  const last = key[STICKY_KV_PREFIX.length];
  if (key.length !== STICKY_KV_PREFIX.length + 1 || typeof last !== "number") return undefined;
  return isPortKey(String(last)) ? last : undefined;
}

function serializedBytes(value: unknown): number {
  return serialize(value).byteLength;
}

/** The server with as many of its first (most recent) peers as fit, or undefined if none do. */
function largestFittingPrefix(server: StickyServerRecord): StickyServerRecord | undefined {
  const withPeers = (count: number) => ({ ...server, peers: server.peers.slice(0, count) });
  if (serializedBytes(withPeers(0)) > MAX_VALUE_BYTES) return undefined;
  let fits = 0;
  let tooMany = server.peers.length;
  while (tooMany - fits > 1) {
    const middle = Math.floor((fits + tooMany) / 2);
    if (serializedBytes(withPeers(middle)) <= MAX_VALUE_BYTES) fits = middle;
    else tooMany = middle;
  }
  return withPeers(fits);
}
