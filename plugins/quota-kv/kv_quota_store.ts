/**
 * The proxy's quota totals in Deno KV (docs/limits.md#shared-quota): every process that opens
 * the same database adds to one total per account and period, each addition an atomic KV `sum`.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { periodEndMs } from "../../core/domain/quota.ts";
import { describeError, P2proxyError } from "../../core/errors.ts";
import type { QuotaCount, QuotaStore } from "../../core/ports/quota_store.ts";
import { checkQuotaCount } from "../../wire/quota_book.ts";

const logger = getLogger(["p2proxy", "quota-kv"]);

/** Every key this store writes starts with this; the period key and the account follow. */
export const QUOTA_KV_PREFIX = ["p2proxy", "quota"] as const;

/** A period's totals are deleted this long after it ends (clocks of processes may differ). */
export const QUOTA_KV_KEEP_AFTER_PERIOD_MS = 7 * 86_400_000;

/** How often past periods' totals are looked for and deleted. */
const SWEEP_INTERVAL_MS = 3_600_000;

/** Sums per atomic operation (Deno KV caps the mutations of one). */
const SUMS_PER_COMMIT = 100;

/** Keys per `getMany` (Deno KV's limit). */
const KEYS_PER_READ = 10;

/** Why the KV store could not be used. */
export type KvQuotaStoreErrorCode = "unavailable";

/**
 * Totals under `["p2proxy", "quota", <period>, <account>]` as `Deno.KvU64`.
 *
 * @example
 * ```ts
 * const store = await KvQuotaStore.open("state/quota.kv");
 * await store.add([{ account: "1080/alice", period: "month:2026-12", bytes: 1500 }]);
 * store.close();
 * ```
 */
export class KvQuotaStore implements QuotaStore {
  /** Where the database lives (a path, `:memory:` or a URL), for messages. */
  readonly location: string;
  readonly #kv: Deno.Kv;
  readonly #now: () => number;
  #lastSweep = Number.NEGATIVE_INFINITY;
  #sweeping: Promise<void> = Promise.resolve();
  #closed = false;

  /** A store over an open database; `close()` closes it. Prefer {@link KvQuotaStore.open}. */
  constructor(kv: Deno.Kv, location: string, now: () => number = Date.now) {
    this.#kv = kv;
    this.location = location;
    this.#now = now;
  }

  /** Opens the database at `location`; throws a `P2proxyError` `unavailable` naming it when that fails. */
  static async open(location: string): Promise<KvQuotaStore> {
    try {
      return new KvQuotaStore(await Deno.openKv(location), location);
    } catch (error) {
      throw new P2proxyError<KvQuotaStoreErrorCode>(
        "unavailable",
        `Could not open the Deno KV quota store "${location}": ${describeError(error)}. ` +
          "Check the path (its directory must exist and be writable) and that Deno runs with " +
          "--unstable-kv.",
        { cause: error },
      );
    }
  }

  /** Sums the bytes (one atomic operation per {@link SUMS_PER_COMMIT}), then reads the totals. */
  async add(counts: readonly QuotaCount[]): Promise<number[]> {
    for (const count of counts) checkQuotaCount(count);
    this.#sweepNowAndThen();
    const adding = counts.filter((count) => count.bytes > 0);
    for (let start = 0; start < adding.length; start += SUMS_PER_COMMIT) {
      const operation = this.#kv.atomic();
      for (const count of adding.slice(start, start + SUMS_PER_COMMIT)) {
        operation.sum(keyOf(count), BigInt(count.bytes));
      }
      await operation.commit();
    }
    const reads: Promise<Deno.KvEntryMaybe<unknown>[]>[] = [];
    for (let start = 0; start < counts.length; start += KEYS_PER_READ) {
      reads.push(this.#kv.getMany(counts.slice(start, start + KEYS_PER_READ).map(keyOf)));
    }
    return (await Promise.all(reads)).flat().map((entry) =>
      entry.value instanceof Deno.KvU64 ? Number(entry.value.value) : 0
    );
  }

  /** Closes the database (after a sweep in progress). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#sweeping;
    this.#kv.close();
  }

  /** Deletes past periods' totals once an hour, in the background (KV `sum` takes no expiry). */
  #sweepNowAndThen(): void {
    const now = this.#now();
    if (now - this.#lastSweep < SWEEP_INTERVAL_MS) return;
    this.#lastSweep = now;
    this.#sweeping = this.#sweep(now).catch((error) =>
      logger.debug("Could not delete past quota periods in {location}: {error}", {
        location: this.location,
        error: describeError(error),
      })
    );
  }

  async #sweep(now: number): Promise<void> {
    for await (const entry of this.#kv.list({ prefix: [...QUOTA_KV_PREFIX] })) {
      const end = periodEndMs(String(entry.key[QUOTA_KV_PREFIX.length]));
      if (end === undefined || end + QUOTA_KV_KEEP_AFTER_PERIOD_MS < now) {
        await this.#kv.delete(entry.key);
      }
    }
  }
}

function keyOf(count: QuotaCount): Deno.KvKey {
  return [...QUOTA_KV_PREFIX, count.period, count.account];
}
