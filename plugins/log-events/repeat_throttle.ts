/**
 * Counts repeats of the same line within a window instead of writing them.
 *
 * @module
 */

/** What the throttle says about one occurrence. */
export type ThrottleVerdict =
  /** Write the line; `suppressed` repeats were swallowed since the key was last written. */
  | { readonly write: true; readonly suppressed: number }
  /** Swallow it: the key was written less than a window ago. */
  | { readonly write: false };

/** Repeats swallowed since the key was last written, with the latest of them. */
export interface PendingRepeats<T> {
  readonly key: string;
  readonly suppressed: number;
  readonly last: T;
}

interface Entry<T> {
  writtenAt: number;
  suppressed: number;
  last: T | undefined;
}

/**
 * The first occurrence of a key is written; further ones within `windowMs`
 * of it are counted (keeping the latest); the first one after the window is
 * written with the count. Remembers at most `maxKeys` keys, forgetting the
 * least recently written first (with any count it held: memory stays bounded).
 *
 * @example
 * ```ts
 * const throttle = new RepeatThrottle<string>(10_000, 1_024);
 * throttle.admit("port 1080 down", 0, "…");     // { write: true, suppressed: 0 }
 * throttle.admit("port 1080 down", 1_000, "…"); // { write: false }
 * throttle.admit("port 1080 down", 12_000, "…"); // { write: true, suppressed: 1 }
 * ```
 */
export class RepeatThrottle<T> {
  readonly #windowMs: number;
  readonly #maxKeys: number;
  readonly #entries = new Map<string, Entry<T>>();

  /** A throttle with its window (ms) and the number of keys it may remember. */
  constructor(windowMs: number, maxKeys: number) {
    this.#windowMs = windowMs;
    this.#maxKeys = Math.max(1, maxKeys);
  }

  /** Decides about one occurrence of `key` at time `now` (ms); `payload` is kept if swallowed. */
  admit(key: string, now: number, payload: T): ThrottleVerdict {
    const entry = this.#entries.get(key);
    if (entry && now - entry.writtenAt < this.#windowMs) {
      entry.suppressed++;
      entry.last = payload;
      return { write: false };
    }
    const suppressed = entry?.suppressed ?? 0;
    // Re-inserting keeps the map ordered by last write, so eviction drops the stalest key.
    this.#entries.delete(key);
    this.#makeRoom();
    this.#entries.set(key, { writtenAt: now, suppressed: 0, last: undefined });
    return { write: true, suppressed };
  }

  /** Every key with swallowed repeats, with its count and latest payload; resets the counts. */
  drain(): PendingRepeats<T>[] {
    const pending: PendingRepeats<T>[] = [];
    for (const [key, entry] of this.#entries) {
      if (entry.suppressed === 0 || entry.last === undefined) continue;
      pending.push({ key, suppressed: entry.suppressed, last: entry.last });
      entry.suppressed = 0;
      entry.last = undefined;
    }
    return pending;
  }

  /** How many keys are remembered. */
  get size(): number {
    return this.#entries.size;
  }

  #makeRoom(): void {
    while (this.#entries.size >= this.#maxKeys) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) return;
      this.#entries.delete(oldest.value);
    }
  }
}
