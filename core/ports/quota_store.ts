/**
 * Where the proxy's quota counts live (docs/limits.md#quota): a total of bytes per account and
 * period that survives a restart and that several proxy processes on one store add to together.
 * The proxy accumulates bytes locally and calls {@link QuotaStore.add} about once a second with
 * what moved since, reading back the totals the other processes made.
 *
 * @module
 */

/** Bytes to add to one account's total in one period (0 bytes: only read the total). */
export interface QuotaCount {
  /** The counted account as the proxy names it: `<port>/<account>` (`1080/alice`). */
  readonly account: string;
  /** The period's key (core/domain/quota.ts `periodKey`): `day:2026-12-07`, `month:2026-12`. */
  readonly period: string;
  /** Bytes to add: a safe integer ≥ 0. */
  readonly bytes: number;
}

/**
 * Totals of bytes per account and period.
 *
 * @example
 * ```ts
 * const [total] = await store.add([{ account: "1080/alice", period: "month:2026-12", bytes: 1500 }]);
 * total; // 1500 plus whatever every other process sharing the store added this month
 * ```
 */
export interface QuotaStore {
  /**
   * Adds each count's bytes to its account's total in its period, each addition atomic (two
   * processes adding at once lose nothing), and resolves to the totals after, in order. A count
   * of 0 bytes reads. Totals of past periods may be forgotten once the period is over. Rejects
   * when the store cannot be reached (nothing of that count was added then, or all of it: the
   * caller keeps the bytes and adds them again later, so a store should not half-apply one
   * count) and with a `RangeError` for bytes that are not a safe integer ≥ 0.
   */
  add(counts: readonly QuotaCount[]): Promise<number[]>;
}
