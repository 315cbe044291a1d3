/**
 * The proxy's quota totals in Redis (docs/limits.md#shared-quota): one key per account and
 * period, added to with `INCRBY` (atomic in Redis, so proxies on any host count one total) and
 * set to expire a week after its period ends.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { Redis } from "ioredis";
import { periodEndMs } from "../../core/domain/quota.ts";
import { describeError } from "../../core/errors.ts";
import type { QuotaCount, QuotaStore } from "../../core/ports/quota_store.ts";
import { checkQuotaCount } from "../../wire/quota_book.ts";
import { redisClientOptions } from "../_shared/redis_connection.ts";
import { RedisStoreError, type RedisTarget } from "../_shared/redis_target.ts";

const logger = getLogger(["p2proxy", "quota-redis"]);

/** A period's key expires this long after the period ends (clocks of proxies may differ). */
export const QUOTA_REDIS_KEEP_AFTER_PERIOD_MS = 7 * 86_400_000;

/** Where and how to reach Redis. */
export interface RedisQuotaStoreOptions {
  /** Host, port, database and TLS, from the `url`. */
  readonly target: RedisTarget;
  /** Overrides the URL's password. */
  readonly password?: string;
  /** PEM CA(s) for `rediss://`. */
  readonly tlsCa?: string;
  /** Every key starts with this. */
  readonly keyPrefix: string;
  /** How long {@link RedisQuotaStore.start} waits for Redis before going on without it. */
  readonly connectTimeoutMs: number;
}

/**
 * Totals under `<prefix><period>:<account>` (`p2proxy:quota:month:2026-12:1080/alice`).
 *
 * @example
 * ```ts
 * const store = new RedisQuotaStore({ target: parseRedisUrl("redis://127.0.0.1:6379/0"),
 *   keyPrefix: "p2proxy:quota:", connectTimeoutMs: 5000 });
 * await store.start();
 * await store.add([{ account: "1080/alice", period: "month:2026-12", bytes: 1500 }]);
 * await store.close();
 * ```
 */
export class RedisQuotaStore implements QuotaStore {
  readonly #options: RedisQuotaStoreOptions;
  readonly #redis: Redis;
  #lastError: Error | undefined;
  #closed = false;

  /** Builds the client; nothing connects before {@link start}. */
  constructor(options: RedisQuotaStoreOptions) {
    this.#options = options;
    const redisOptions = redisClientOptions(options, () => this.#closed);
    this.#redis = new Redis(redisOptions);
    this.#redis.on("error", (error: Error) => {
      this.#lastError = error;
      logger.debug("Redis quota store connection: {error}", { error: error.message });
    });
  }

  /** Where Redis is, without the password (for messages). */
  get location(): string {
    return this.#options.target.display;
  }

  /**
   * Connects. Refused credentials throw (`auth-failed`); an unreachable Redis is logged once and
   * retried in the background (quota counts wait in the proxy until it answers).
   */
  async start(): Promise<void> {
    const first = this.#redis.connect().then(() => undefined, (error: unknown) => error);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<Error>((resolve) => {
      timer = setTimeout(
        () => resolve(new Error(`no answer within ${this.#options.connectTimeoutMs} ms`)),
        this.#options.connectTimeoutMs,
      );
    });
    const failure = await Promise.race([first, timeout]);
    clearTimeout(timer);
    if (failure === undefined) return;
    const cause = isAuthError(this.#lastError) ? this.#lastError : failure;
    if (isAuthError(cause)) {
      await this.close();
      throw new RedisStoreError(
        "auth-failed",
        `The Redis quota store at ${this.location} refused the credentials: ${
          describeError(cause)
        }. Check the password in the url or in the variable \`password_env\` names.`,
        { cause },
      );
    }
    logger.warn(
      "Cannot reach the Redis quota store at {url}: {error}. The proxy counts quotas locally " +
        "and adds them to Redis once it is reachable (retrying with backoff).",
      { url: this.location, error: describeError(failure) },
    );
  }

  /** One `MULTI`: `INCRBY` and `PEXPIREAT` per count with bytes, `GET` per read. */
  async add(counts: readonly QuotaCount[]): Promise<number[]> {
    for (const count of counts) checkQuotaCount(count);
    if (counts.length === 0) return [];
    const multi = this.#redis.multi();
    for (const count of counts) {
      const key = `${this.#options.keyPrefix}${count.period}:${count.account}`;
      if (count.bytes === 0) {
        multi.get(key);
        continue;
      }
      multi.incrby(key, count.bytes);
      const end = periodEndMs(count.period);
      if (end !== undefined) multi.pexpireat(key, end + QUOTA_REDIS_KEEP_AFTER_PERIOD_MS);
    }
    const replies = await multi.exec();
    if (!replies) throw new Error(`The Redis quota store at ${this.location} aborted a MULTI.`);
    const totals: number[] = [];
    let reply = 0;
    for (const count of counts) {
      const [error, value] = replies[reply]!;
      if (error) throw error;
      totals.push(value === null ? 0 : Number(value));
      reply += count.bytes > 0 && periodEndMs(count.period) !== undefined ? 2 : 1;
    }
    return totals;
  }

  /** Disconnects. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (this.#redis.status === "ready") await this.#redis.quit();
      else this.#redis.disconnect();
    } catch {
      this.#redis.disconnect();
    }
  }
}

function isAuthError(error: unknown): error is Error {
  return error instanceof Error && /NOAUTH|WRONGPASS|invalid password|invalid username/i.test(
    error.message,
  );
}
