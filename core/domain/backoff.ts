/**
 * An exponential delay schedule with a cap. It holds no clock: the caller
 * sleeps for `next()` through the Clock port, so the schedule itself is pure
 * and tests assert it directly.
 *
 * @module
 */

/**
 * Exponential, capped delays: `initialMs`, `initialMs × factor`, … up to `maxMs`.
 *
 * @example
 * ```ts
 * const backoff = new Backoff(1_000, 2, 30_000);
 * backoff.next(); // 1000
 * backoff.next(); // 2000
 * ```
 */
export class Backoff {
  readonly #initialMs: number;
  readonly #factor: number;
  readonly #maxMs: number;
  #currentMs: number;

  /**
   * A factor below 1 is treated as 1 (a shrinking backoff would hammer the
   * remote); negative or non-finite durations are treated as 0.
   */
  constructor(initialMs: number, factor: number, maxMs: number) {
    this.#initialMs = nonNegative(initialMs);
    this.#maxMs = nonNegative(maxMs);
    this.#factor = Number.isFinite(factor) && factor > 1 ? factor : 1;
    this.#currentMs = this.#initialMs;
  }

  /** The delay to wait now, in milliseconds; the following one grows by the factor. */
  next(): number {
    const delayMs = Math.min(this.#currentMs, this.#maxMs);
    this.#currentMs = Math.min(this.#currentMs * this.#factor, this.#maxMs);
    return delayMs;
  }

  /** Starts the schedule over from the initial delay (after a success). */
  reset(): void {
    this.#currentMs = this.#initialMs;
  }
}

function nonNegative(ms: number): number {
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}
