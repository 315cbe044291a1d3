/**
 * The proxy's view of its accounts' quota totals (docs/limits.md#quota): bytes counted locally
 * as they move (a number added, nothing awaited on the relay's path), added to the quota store
 * on every {@link QuotaTally.sync} (the proxy calls it every second and at stop), which reads back
 * the total every process sharing the store has counted. Admission decides on that total plus
 * what this process counted since, so several proxies on one shared store overshoot a quota by
 * at most the traffic of one sync interval.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { periodKey, type Quota, type QuotaPeriod } from "../core/domain/quota.ts";
import { describeError } from "../core/errors.ts";
import type { QuotaStore } from "../core/ports/quota_store.ts";
import { FileQuotaStore } from "../wire/quota_book.ts";

const logger = getLogger(["p2proxy", "limits"]);

/** An account's total is forgotten (and no longer read) after this long without a session. */
export const QUOTA_IDLE_FORGET_MS = 600_000;

/**
 * Longest a session waits for its account's total the first time this process sees the account
 * in a period; past it the session is decided on what this process counted.
 */
export const QUOTA_FIRST_READ_TIMEOUT_MS = 1_000;

/**
 * Longest a sync waits for the store; past it the bytes go back to be added by the next sync
 * (a store that applied them late then counts them twice: over-counting, never under).
 */
export const QUOTA_SYNC_TIMEOUT_MS = 10_000;

interface Tally {
  readonly account: string;
  /** `periodKey` of the period counted. */
  readonly period: string;
  /** The store's total at the last sync (every process's bytes). */
  total: number;
  /** Bytes counted here since the last sync began. */
  pending: number;
  /** Bytes of the sync in flight, not yet in `total`. */
  sending: number;
  /** When a session last asked or counted. */
  seenAt: number;
  /** True once the store was asked for `total` (answered, or failed to within the bound). */
  read: boolean;
  /** The first read in flight. */
  loading?: Promise<void> | undefined;
}

/**
 * Quota totals of one proxy over a {@link QuotaStore}.
 *
 * @example
 * ```ts
 * const tally = new QuotaTally(store, () => Date.now());
 * tally.watch("1080/alice", "day", Date.now());
 * tally.add("1080/alice", "day", 1500, Date.now());
 * await tally.sync(); // adds the 1500 bytes, reads what other proxies added
 * tally.exhausted("1080/alice", { bytes: 5_000_000, period: "day" }, Date.now());
 * ```
 */
export class QuotaTally {
  readonly #store: QuotaStore;
  readonly #now: () => number;
  /** Keyed `account\nperiodKey`: a past period's bytes still reach the store after it ends. */
  readonly #tallies = new Map<string, Tally>();
  /** `account\nperiodKey` of the exhaustions already logged. */
  readonly #reported = new Set<string>();
  #syncing: Promise<void> | undefined;
  #failing = false;

  /** A tally adding to `store`, on the clock `now`. */
  constructor(store: QuotaStore, now: () => number) {
    this.#store = store;
    this.#now = now;
  }

  /** A tally over counts kept in memory only (tests, and a proxy without a state directory). */
  static async inMemory(now: () => number): Promise<QuotaTally> {
    return new QuotaTally(await FileQuotaStore.open(undefined), now);
  }

  /**
   * True when the store was asked for `account`'s total in its current `period` (it answered,
   * or failed to in time: then the syncs bring it), so a session need not wait for it.
   */
  known(account: string, period: QuotaPeriod, nowMs: number): boolean {
    return this.#tallies.get(`${account}\n${periodKey(period, nowMs)}`)?.read === true;
  }

  /**
   * Reads `account`'s total in its current `period` from the store (the first session of an
   * account in this process waits for it, at most {@link QUOTA_FIRST_READ_TIMEOUT_MS}); from
   * then on every sync reads it. Never rejects: a store that fails or is slow leaves the total
   * to the next sync.
   */
  async load(account: string, period: QuotaPeriod, nowMs: number): Promise<void> {
    const tally = this.#tallyOf(account, period, nowMs);
    tally.seenAt = nowMs;
    if (tally.read) return;
    tally.loading ??= this.#read(tally).finally(() => tally.loading = undefined);
    await tally.loading;
  }

  /** A session of `account` asks to start: its total stays read on every sync. */
  watch(account: string, period: QuotaPeriod, nowMs: number): void {
    this.#tallyOf(account, period, nowMs).seenAt = nowMs;
  }

  /** Counts `bytes` of `account` in its current `period` (no I/O: the next sync adds them). */
  add(account: string, period: QuotaPeriod, bytes: number, nowMs: number): void {
    if (bytes <= 0) return;
    const tally = this.#tallyOf(account, period, nowMs);
    tally.pending += bytes;
    tally.seenAt = nowMs;
  }

  /** Bytes `account` used in its current `period`: the shared total plus what is not in it yet. */
  used(account: string, period: QuotaPeriod, nowMs: number): number {
    const tally = this.#tallies.get(`${account}\n${periodKey(period, nowMs)}`);
    return tally ? tally.total + tally.pending + tally.sending : 0;
  }

  /** True when `account` has used all of `quota` in its current period. */
  exhausted(account: string, quota: Quota, nowMs: number): boolean {
    return this.used(account, quota.period, nowMs) >= quota.bytes;
  }

  /** True the first time it is asked for `account` in the current period: log an exhaustion once. */
  firstReport(account: string, period: QuotaPeriod, nowMs: number): boolean {
    const key = `${account}\n${periodKey(period, nowMs)}`;
    if (this.#reported.has(key)) return false;
    this.#reported.add(key);
    return true;
  }

  /**
   * Adds the bytes counted since the last sync to the store and reads every watched total back
   * (one call of the store). Never rejects: when the store fails, the bytes stay counted here and
   * go with the next sync. A sync asked while one runs joins it.
   */
  sync(): Promise<void> {
    this.#syncing ??= this.#syncOnce().finally(() => this.#syncing = undefined);
    return this.#syncing;
  }

  /** Waits for a sync in flight, then syncs what is left (the proxy's stop; the store stays open). */
  async stop(): Promise<void> {
    await this.#syncing;
    await this.sync();
  }

  async #read(tally: Tally): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), QUOTA_FIRST_READ_TIMEOUT_MS);
    });
    const read = this.#store.add([{ account: tally.account, period: tally.period, bytes: 0 }])
      .then(([total]) => total, () => undefined);
    const total = await Promise.race([read, timeout]);
    clearTimeout(timer);
    // Unanswered: decided on this process's counts, and no other session waits; a sync reads it.
    tally.read = true;
    if (total !== undefined) tally.total = Math.max(total, tally.total);
  }

  async #syncOnce(): Promise<void> {
    const now = this.#now();
    this.#forgetIdle(now);
    const batch = [...this.#tallies.values()];
    if (batch.length === 0) return;
    for (const tally of batch) {
      tally.sending = tally.pending;
      tally.pending = 0;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${QUOTA_SYNC_TIMEOUT_MS} ms`)),
          QUOTA_SYNC_TIMEOUT_MS,
        );
      });
      const totals = await Promise.race([
        this.#store.add(
          batch.map(({ account, period, sending }) => ({ account, period, bytes: sending })),
        ),
        timeout,
      ]);
      batch.forEach((tally, i) => {
        tally.total = Math.max(totals[i] ?? 0, tally.total);
        tally.sending = 0;
        tally.read = true;
      });
      if (this.#failing) logger.info("The quota store answers again; quota counts are shared.");
      this.#failing = false;
    } catch (error) {
      for (const tally of batch) {
        tally.pending += tally.sending;
        tally.sending = 0;
      }
      if (!this.#failing) {
        logger.warn(
          "Could not add the quota counts to the quota store ({error}); this proxy keeps " +
            "counting and adds them once the store answers.",
          { error: describeError(error) },
        );
      }
      this.#failing = true;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Drops totals nobody asked for lately, and past periods once their bytes are in the store. */
  #forgetIdle(now: number): void {
    for (const [key, tally] of this.#tallies) {
      if (tally.pending > 0 || tally.sending > 0) continue;
      const kind = tally.period.slice(0, tally.period.indexOf(":")) as QuotaPeriod;
      if (now - tally.seenAt > QUOTA_IDLE_FORGET_MS || tally.period !== periodKey(kind, now)) {
        this.#tallies.delete(key);
      }
    }
    for (const key of this.#reported) {
      const period = key.slice(key.lastIndexOf("\n") + 1);
      const kind = period.slice(0, period.indexOf(":")) as QuotaPeriod;
      if (period !== periodKey(kind, now)) this.#reported.delete(key);
    }
  }

  #tallyOf(account: string, period: QuotaPeriod, nowMs: number): Tally {
    const key = `${account}\n${periodKey(period, nowMs)}`;
    let tally = this.#tallies.get(key);
    if (!tally) {
      tally = {
        account,
        period: periodKey(period, nowMs),
        total: 0,
        pending: 0,
        sending: 0,
        seenAt: nowMs,
        read: false,
      };
      this.#tallies.set(key, tally);
    }
    return tally;
  }
}
