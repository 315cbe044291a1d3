/**
 * The hub's registry of exits in Redis, shared by every hub pointed at the
 * same server (docs/hub-behaviour.md#shared-registry), with a local mirror:
 *
 * - **Redis is the truth.** Each record is a key with a TTL, so Redis forgets
 *   an exit no hub renewed; `get` and `list` read Redis while it answers.
 * - **`find` reads the mirror**, an in-memory copy indexed by country and ASN
 *   (`RegistryIndex`), so a `FindNodes` costs no round trip and reads only the
 *   records of the asked country/ASN. The mirror is loaded at connect, follows
 *   every hub's writes through a pub/sub channel (milliseconds behind), and is
 *   re-read whole every {@link RESYNC_INTERVAL_MS} and after every reconnect.
 * - **Redis down**: reads fall back to the mirror — the last known set, each
 *   record until its own expiry (`missed_heartbeats` × heartbeat), so the
 *   answer shrinks to the exits that keep registering here — and puts land
 *   in the mirror. One warning says so; ioredis reconnects with backoff
 *   ({@link RECONNECT_INITIAL_MS} ×2 up to {@link RECONNECT_MAX_MS}).
 * - **Redis back** (or restarted empty): every unexpired mirror record is
 *   written back unless Redis holds a newer one, so no registration is lost,
 *   then the mirror is re-read.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { Redis } from "ioredis";
import { describeError } from "../../core/errors.ts";
import type { PeerId } from "../../core/ids.ts";
import type {
  ExitRegistration,
  RegistryQuery,
  RegistryStore,
} from "../../core/ports/registry_store.ts";
import { RegistryIndex } from "../_shared/registry_index.ts";
import { parseRegistration } from "../_shared/registry_record.ts";
import { redisClientOptions } from "../_shared/redis_connection.ts";
import { PUT_SCRIPT, REMOVE_SCRIPT } from "./redis_scripts.ts";
import { RedisRegistryError, type RedisTarget } from "./redis_target.ts";

const logger = getLogger(["p2proxy", "registry-redis"]);

/**
 * How long Redis keeps a record past its own expiry: long enough for every
 * hub's sweeper (one heartbeat) to see the expiry and restore the exit's relay
 * limits; Redis deletes it by itself after that, even with no hub left.
 */
export const REDIS_EXPIRY_GRACE_MS = 60_000;

// Reconnect backoff and the command bound are the shared Redis client settings.
export {
  COMMAND_TIMEOUT_MS,
  RECONNECT_INITIAL_MS,
  RECONNECT_MAX_MS,
} from "../_shared/redis_connection.ts";

/**
 * How often the whole mirror is re-read from Redis: a safety net behind the
 * change channel (which a connected subscriber does not miss).
 */
export const RESYNC_INTERVAL_MS = 60_000;

/** Records read per `MGET` (and written per pipeline): bounded replies, room for other work between. */
const BATCH_SIZE = 500;

/** How the store is built. */
export interface RedisRegistryStoreOptions {
  /** Where Redis is (from `parseRedisUrl`). */
  readonly target: RedisTarget;
  /** Overrides the URL's password (read from `password_env`). */
  readonly password?: string;
  /** PEM CA certificate(s) to trust for `rediss://`; default: the system's. */
  readonly tlsCa?: string;
  /** Every key starts with this (several registries can share one database). */
  readonly keyPrefix: string;
  /** How long `start` waits for the first connection before going on without Redis. */
  readonly connectTimeoutMs: number;
  /** Default {@link RESYNC_INTERVAL_MS}; tests shorten it. */
  readonly resyncIntervalMs?: number;
}

/** A change on the channel: who wrote it, the peer, and its record (absent: removed). */
interface ChangeMessage {
  /** The writing store's random id: a store skips its own echoes. */
  readonly o: string;
  readonly p: string;
  readonly r?: unknown;
}

/** A reply error from Redis itself (as opposed to the connection failing). */
function isReplyError(error: unknown): boolean {
  return error instanceof Error && error.name === "ReplyError";
}

/** Authentication refused: a configuration mistake, not an outage. */
function isAuthError(error: unknown): boolean {
  return error instanceof Error && /WRONGPASS|NOAUTH|invalid password|NOPERM/i.test(error.message);
}

/** The registry-store port on Redis, with a local mirror; see the module doc. */
export class RedisRegistryStore implements RegistryStore {
  readonly #options: RedisRegistryStoreOptions;
  readonly #id = crypto.randomUUID();
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #mirror = new RegistryIndex();
  /** When each peer was last written or removed here or by the channel (for resync merges). */
  readonly #touched = new Map<PeerId, number>();
  #ready = false;
  #everReady = false;
  #downSince: number | undefined;
  #recovering: Promise<void> = Promise.resolve();
  #resyncTimer: ReturnType<typeof setInterval> | undefined;
  #warnedAboutRecords = false;
  /** The last connection error (ioredis reports a refused password only as an event). */
  #lastError: Error | undefined;
  #closed = false;

  /** Builds the clients; nothing connects before {@link start}. */
  constructor(options: RedisRegistryStoreOptions) {
    this.#options = options;
    const redisOptions = redisClientOptions(options, () => this.#closed);
    this.#redis = new Redis(redisOptions);
    // The subscriber queues its SUBSCRIBE until connected, and re-subscribes after a reconnect.
    this.#subscriber = new Redis({ ...redisOptions, enableOfflineQueue: true });
    this.#redis.defineCommand("p2proxyPut", { numberOfKeys: 0, lua: PUT_SCRIPT });
    this.#redis.defineCommand("p2proxyRemove", { numberOfKeys: 0, lua: REMOVE_SCRIPT });
    for (const client of [this.#redis, this.#subscriber]) {
      // Every failed reconnect emits one; the outage is logged once, in #onDown.
      client.on("error", (error: Error) => {
        this.#lastError = error;
        logger.debug("Redis registry connection: {error}", { error: error.message });
      });
    }
    this.#redis.on("ready", () => this.#onReady());
    this.#redis.on("close", () => this.#onDown());
    this.#subscriber.on("message", (_channel: string, message: string) => this.#onChange(message));
    // Changes published while the subscriber was away are read back whole.
    this.#subscriber.on("ready", () => void this.#resync().catch(() => {}));
  }

  /** Where Redis is, without the password (for messages). */
  get location(): string {
    return this.#options.target.display;
  }

  /** True while Redis answers. */
  get connected(): boolean {
    return this.#ready;
  }

  /** Records in the mirror (what `find` reads). */
  get mirrorSize(): number {
    return this.#mirror.size;
  }

  /**
   * Connects and loads the mirror. A refused password throws
   * (`auth-failed`); an unreachable Redis is logged once and retried in the
   * background (the hub starts with an empty registry and keeps registrations).
   */
  async start(): Promise<void> {
    const channel = `${this.#options.keyPrefix}changes`;
    const first = this.#redis.connect().then(
      () => undefined,
      (error: unknown) => error,
    );
    const timeout = new Promise<Error>((resolve) => {
      const timer = setTimeout(
        () => resolve(new Error(`no answer within ${this.#options.connectTimeoutMs} ms`)),
        this.#options.connectTimeoutMs,
      );
      first.finally(() => clearTimeout(timer));
    });
    const failure = await Promise.race([first, timeout]);
    if (failure !== undefined) {
      const cause = isAuthError(this.#lastError) ? this.#lastError : failure;
      if (isAuthError(cause)) {
        await this.close();
        throw new RedisRegistryError(
          "auth-failed",
          `The Redis registry at ${this.location} refused the credentials: ${
            describeError(cause)
          }. Check the password in the url or in the variable \`password_env\` names.`,
          { cause },
        );
      }
      logger.warn(
        "Cannot reach the Redis registry at {url}: {error}. The hub starts with only the exits " +
          "that register with it and writes them to Redis once it is reachable (retrying with " +
          "backoff).",
        { url: this.location, error: describeError(failure) },
      );
      this.#downSince = Date.now();
    }
    this.#subscriber.connect().catch(
      () => {/* retried by ioredis; logged through the main client */},
    );
    // Queued until the subscriber connects (and re-sent after every reconnect).
    const subscribed = this.#subscriber.subscribe(channel).catch(() => {});
    if (failure === undefined) await subscribed;
    this.#resyncTimer = setInterval(
      () => this.#resync().catch(() => {/* logged in #resync */}),
      this.#options.resyncIntervalMs ?? RESYNC_INTERVAL_MS,
    );
    await this.#recovering;
  }

  /** Writes the record (TTL: its expiry plus {@link REDIS_EXPIRY_GRACE_MS}); kept in the mirror while Redis is down. */
  async put(registration: ExitRegistration): Promise<void> {
    this.#mirror.put(registration);
    this.#touch(registration.peerId);
    if (!this.#ready) return;
    try {
      await this.#write(registration, false);
    } catch (error) {
      if (isReplyError(error)) throw error;
      // The connection failed under us: the mirror keeps it until Redis is back (#recover).
    }
  }

  /** The record of `peer` from Redis, or from the mirror while Redis is down. */
  async get(peer: PeerId): Promise<ExitRegistration | undefined> {
    if (this.#ready) {
      try {
        const text = await this.#redis.get(this.#recordKey(peer));
        return text === null ? undefined : this.#parse(text, peer);
      } catch (error) {
        if (isReplyError(error)) throw error;
      }
    }
    return this.#mirror.get(peer);
  }

  /** Every record from Redis (the `all` index, then `MGET`), or the mirror's while Redis is down. */
  async list(): Promise<ExitRegistration[]> {
    if (this.#ready) {
      try {
        return await this.#readAll();
      } catch (error) {
        if (isReplyError(error)) throw error;
      }
    }
    return this.#mirror.list();
  }

  /** The mirror's records of that country and ASN (no round trip; see the module doc). */
  find(query: RegistryQuery): Promise<ExitRegistration[]> {
    return Promise.resolve(this.#mirror.find(query));
  }

  /** Deletes the record; true when Redis (or, while it is down, the mirror) had one. */
  async remove(peer: PeerId): Promise<boolean> {
    const mirrored = this.#mirror.remove(peer);
    this.#touch(peer);
    if (!this.#ready) return mirrored;
    try {
      const removed = await this.#scripts.p2proxyRemove(
        this.#options.keyPrefix,
        peer,
        this.#message(peer, undefined),
      );
      return removed === 1;
    } catch (error) {
      if (isReplyError(error)) throw error;
      return mirrored;
    }
  }

  /** Disconnects both clients and stops the resync timer. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#resyncTimer);
    await this.#recovering.catch(() => {});
    await Promise.all([this.#redis, this.#subscriber].map((client) => quit(client)));
  }

  // ---------------------------------------------------------------------------

  /** The client with the scripts ioredis added as methods. */
  get #scripts(): RedisWithScripts {
    return this.#redis as unknown as RedisWithScripts;
  }

  #recordKey(peer: string): string {
    return `${this.#options.keyPrefix}rec:${peer}`;
  }

  #message(peer: PeerId, record: ExitRegistration | undefined): string {
    const message: ChangeMessage = { o: this.#id, p: peer, ...(record ? { r: record } : {}) };
    return JSON.stringify(message);
  }

  /** One put script call; `keepNewer` for restores. Resolves true when written. */
  async #write(record: ExitRegistration, keepNewer: boolean): Promise<boolean> {
    const now = Date.now();
    const ttlMs = Math.max(0, record.expiresAt - now) + REDIS_EXPIRY_GRACE_MS;
    const written = await this.#scripts.p2proxyPut(
      this.#options.keyPrefix,
      record.peerId,
      JSON.stringify(record),
      String(Math.ceil(ttlMs)),
      String(record.lastSeenAt),
      keepNewer ? "1" : "0",
      String(now),
      this.#message(record.peerId, record),
    );
    return written === 1;
  }

  async #readAll(): Promise<ExitRegistration[]> {
    const peers = await this.#redis.zrangebyscore(
      `${this.#options.keyPrefix}all`,
      `(${Date.now()}`,
      "+inf",
    );
    const records: ExitRegistration[] = [];
    for (let i = 0; i < peers.length; i += BATCH_SIZE) {
      const batch = peers.slice(i, i + BATCH_SIZE);
      const texts = await this.#redis.mget(batch.map((peer) => this.#recordKey(peer)));
      texts.forEach((text, j) => {
        if (text === null) return;
        const record = this.#parse(text, batch[j]!);
        if (record) records.push(record);
      });
    }
    return records;
  }

  #parse(text: string, peer: string): ExitRegistration | undefined {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    const parsed = parseRegistration(value);
    if (parsed.ok && parsed.value.peerId === peer) return parsed.value;
    if (!this.#warnedAboutRecords) {
      this.#warnedAboutRecords = true;
      logger.warn(
        "Skipping the record of {peer} in the Redis registry at {url}: {problem}. It is replaced " +
          "when that exit registers again.",
        {
          peer,
          url: this.location,
          problem: parsed.ok ? "it names another peer" : parsed.problem,
        },
      );
    }
    return undefined;
  }

  #touch(peer: PeerId): void {
    this.#touched.set(peer, performance.now());
  }

  /** A change another hub (or this one) published. */
  #onChange(text: string): void {
    let message: ChangeMessage;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.o === this.#id || typeof message.p !== "string") return;
    const peer = message.p as PeerId;
    if (message.r === undefined) {
      this.#mirror.remove(peer);
      this.#touch(peer);
      return;
    }
    const parsed = parseRegistration(message.r);
    if (!parsed.ok || parsed.value.peerId !== peer) return;
    const held = this.#mirror.peek(peer);
    if (held && held.lastSeenAt > parsed.value.lastSeenAt) return;
    this.#mirror.put(parsed.value);
    this.#touch(peer);
  }

  #onReady(): void {
    this.#ready = true;
    const downSince = this.#downSince;
    const first = !this.#everReady;
    this.#everReady = true;
    this.#downSince = undefined;
    this.#recovering = this.#recover(first, downSince).catch((error) =>
      logger.warn("Re-reading the Redis registry at {url} failed: {error}", {
        url: this.location,
        error: describeError(error),
      })
    );
  }

  #onDown(): void {
    const wasReady = this.#ready;
    this.#ready = false;
    if (!wasReady || this.#closed) return;
    this.#downSince = Date.now();
    logger.warn(
      "Lost the Redis registry at {url}: serving the last known {count} exits (each until its own " +
        "expiry) and keeping new registrations until it is back; reconnecting with backoff.",
      { url: this.location, count: this.#mirror.size },
    );
  }

  /**
   * After a (re)connect: writes back every unexpired mirror record Redis lacks
   * or holds older (nothing lost by an outage or a restarted, empty Redis),
   * then re-reads the mirror.
   */
  async #recover(first: boolean, downSince: number | undefined): Promise<void> {
    const now = Date.now();
    const live = this.#mirror.peers()
      .map((peer) => this.#mirror.peek(peer)!)
      .filter((record) => record.expiresAt > now);
    let restored = 0;
    for (let i = 0; i < live.length; i += BATCH_SIZE) {
      const results = await Promise.all(
        live.slice(i, i + BATCH_SIZE).map((record) => this.#write(record, true)),
      );
      restored += results.filter(Boolean).length;
    }
    await this.#resync();
    if (first && downSince === undefined) return;
    logger.info(
      "The Redis registry at {url} answers again{after}: wrote back {restored} registrations; " +
        "{count} exits known.",
      {
        url: this.location,
        after: downSince === undefined ? "" : ` after ${((now - downSince) / 1000).toFixed(1)} s`,
        restored,
        count: this.#mirror.size,
      },
    );
  }

  /**
   * Replaces the mirror with what Redis holds, keeping what changed here or
   * on the channel while the read was under way (it may predate those).
   */
  async #resync(): Promise<void> {
    if (!this.#ready || this.#closed) return;
    const started = performance.now();
    let records: ExitRegistration[];
    try {
      records = await this.#readAll();
    } catch (error) {
      if (isReplyError(error)) {
        logger.warn("Reading the Redis registry at {url} failed: {error}", {
          url: this.location,
          error: describeError(error),
        });
      }
      return;
    }
    const seen = new Set<PeerId>();
    for (const record of records) {
      seen.add(record.peerId);
      if ((this.#touched.get(record.peerId) ?? -Infinity) >= started) continue;
      this.#mirror.put(record);
    }
    // Expiry is Redis's TTL (and the hub's sweep), never judged here by this
    // clock: a record written since the read started stays, whatever its expiry.
    for (const peer of this.#mirror.peers()) {
      if (seen.has(peer) || (this.#touched.get(peer) ?? -Infinity) >= started) continue;
      // Not in Redis and not written since the read started: gone (expired, or swept elsewhere).
      this.#mirror.remove(peer);
    }
    for (const [peer, at] of this.#touched) if (at < started) this.#touched.delete(peer);
  }
}

/** The scripts defined on the client (ioredis adds them as methods). */
interface RedisWithScripts {
  p2proxyPut(...args: string[]): Promise<number>;
  p2proxyRemove(...args: string[]): Promise<number>;
}

/** QUIT when connected, else just disconnect (no reconnect). */
async function quit(client: Redis): Promise<void> {
  try {
    if (client.status === "ready") await client.quit();
    else client.disconnect();
  } catch {
    client.disconnect();
  }
}
