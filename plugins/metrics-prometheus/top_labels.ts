/**
 * Label values for the busiest accounts (docs/limits.md#usage): the per-account metrics name the
 * top {@link LABEL_VALUES_MAX} accounts by bytes and sum the rest under `other`, so the scrape
 * stays bounded however many accounts there are. The named set is re-ranked on a fixed schedule,
 * not on every event, and counters stay monotonic: see {@link TopLabels}.
 *
 * @module
 */
import { LABEL_VALUE_MAX_CHARS, LABEL_VALUES_MAX, OTHER_LABEL_VALUE } from "./constants.ts";

/** How often the named set is re-ranked; also the half-life of an account's ranking score. */
export const TOP_LABELS_RERANK_MS = 60_000;

/** Accounts whose score is kept for ranking; past it, new accounts wait for the next re-rank. */
const MAX_RANKED = 10_000;

/** What {@link TopLabels} is built with. */
export interface TopLabelsOptions {
  /** Accounts named at once (default {@link LABEL_VALUES_MAX}). */
  readonly named?: number;
  /** The clock (default `Date.now`). */
  readonly now?: () => number;
  /**
   * Called when a name that left the named set gives up its series (to bound the scrape): the
   * caller removes that label value's series.
   */
  readonly onDropped?: (name: string) => void;
}

/**
 * Chooses the label value of each account's increments. The rule:
 *
 * - Until `named` accounts are named, an account is named the first time it is seen.
 * - Every {@link TOP_LABELS_RERANK_MS} (checked on each increment: no timer), the named set
 *   becomes the `named` accounts with the highest score — bytes, halved at each re-rank — keeping
 *   named accounts that are not outranked. An account that enters starts its series at zero (its
 *   earlier bytes stay in `other`); one that leaves keeps its series, frozen, and its new bytes go
 *   to `other`. No counter ever decreases.
 * - Frozen series are kept up to `named` of them; past that the longest-frozen one is dropped
 *   (`onDropped`: its series leave the scrape), so at most 2 × `named` + 1 account values exist.
 *
 * @example
 * ```ts
 * const labels = new TopLabels({ onDropped: (name) => counter.remove({ account: name }) });
 * counter.inc({ account: labels.value("alice", 1500) }, 1500);
 * ```
 */
export class TopLabels {
  readonly #named: number;
  readonly #now: () => number;
  readonly #onDropped: (name: string) => void;
  readonly #scores = new Map<string, number>();
  readonly #current = new Set<string>();
  /** Names out of the set whose series are kept, oldest first (Map keeps insertion order). */
  readonly #frozen = new Map<string, number>();
  #lastRank: number;

  /** Labels on `options` (see {@link TopLabelsOptions}). */
  constructor(options: TopLabelsOptions = {}) {
    this.#named = options.named ?? LABEL_VALUES_MAX;
    this.#now = options.now ?? Date.now;
    this.#onDropped = options.onDropped ?? (() => {});
    this.#lastRank = this.#now();
  }

  /** The names in the named set now. */
  get named(): ReadonlySet<string> {
    return this.#current;
  }

  /** The label value for `bytes` more of `account` (and counts them towards its rank). */
  value(account: string, bytes: number): string {
    if (account.length === 0 || account.length > LABEL_VALUE_MAX_CHARS) return OTHER_LABEL_VALUE;
    const score = this.#scores.get(account);
    if (score !== undefined) this.#scores.set(account, score + bytes);
    else if (this.#scores.size < MAX_RANKED) this.#scores.set(account, bytes);
    if (this.#now() - this.#lastRank >= TOP_LABELS_RERANK_MS) this.#rerank();
    if (this.#current.has(account)) return account;
    if (this.#current.size < this.#named) {
      this.#enter(account);
      return account;
    }
    return OTHER_LABEL_VALUE;
  }

  #rerank(): void {
    this.#lastRank = this.#now();
    const ranked = [...this.#scores].sort((a, b) => b[1] - a[1]);
    const top = new Set(ranked.slice(0, this.#named).filter(([, s]) => s > 0).map(([n]) => n));
    // Named accounts not outranked stay, so a quiet spell does not churn the set.
    const keep = [...this.#current].filter((name) => !top.has(name))
      .sort((a, b) => (this.#scores.get(b) ?? 0) - (this.#scores.get(a) ?? 0))
      .slice(0, this.#named - top.size);
    const next = new Set([...top, ...keep]);
    for (const name of this.#current) {
      if (!next.has(name)) this.#leave(name);
    }
    for (const name of next) {
      if (!this.#current.has(name)) this.#enter(name);
    }
    // Halve every score (the ranking follows recent traffic), forget those worn down to nothing.
    for (const [name, score] of ranked.slice(0, MAX_RANKED / 2)) {
      if (score >= 2) this.#scores.set(name, score / 2);
      else this.#scores.delete(name);
    }
    for (const [name] of ranked.slice(MAX_RANKED / 2)) this.#scores.delete(name);
  }

  #enter(name: string): void {
    this.#frozen.delete(name);
    this.#current.add(name);
  }

  #leave(name: string): void {
    this.#current.delete(name);
    this.#frozen.set(name, this.#now());
    while (this.#frozen.size > this.#named) {
      const oldest = this.#frozen.keys().next().value!;
      this.#frozen.delete(oldest);
      this.#onDropped(oldest);
    }
  }
}
