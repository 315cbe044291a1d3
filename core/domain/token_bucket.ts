/**
 * A token bucket with debt, on a caller's clock (docs/limits.md#rate): the rate limit of one
 * account in one direction.
 *
 * Bytes are taken when they move, whatever their size, and the balance may go negative; the
 * caller waits {@link TokenBucket.take}'s answer before moving more. A caller under its rate never
 * waits (no timer at all); one over it is slowed to the rate, on average, with at most `burst`
 * bytes ahead of it. Time is passed in, so tests move a number instead of sleeping.
 *
 * @module
 */

/**
 * Byte tokens refilled at `rateBytesPerSec`, holding at most `burstBytes`; starts full.
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket(1_000_000, 500_000, 0);
 * bucket.take(500_000, 0); // 0: within the burst
 * bucket.take(1_000_000, 0); // 1000: wait 1 s before moving more
 * ```
 */
export class TokenBucket {
  /** Refill rate, bytes per second (> 0). */
  readonly rateBytesPerSec: number;
  /** Most tokens the bucket holds: what moves at once after a quiet spell. */
  readonly burstBytes: number;
  #tokens: number;
  #updatedMs: number;

  /** A full bucket at `nowMs`. */
  constructor(rateBytesPerSec: number, burstBytes: number, nowMs: number) {
    if (!(rateBytesPerSec > 0) || !(burstBytes > 0)) {
      throw new RangeError(
        `A token bucket needs a rate and a burst above 0, got ${rateBytesPerSec} and ${burstBytes}.`,
      );
    }
    this.rateBytesPerSec = rateBytesPerSec;
    this.burstBytes = burstBytes;
    this.#tokens = burstBytes;
    this.#updatedMs = nowMs;
  }

  /** Tokens at `nowMs` (negative: debt still to be paid by waiting). */
  tokens(nowMs: number): number {
    this.#refill(nowMs);
    return this.#tokens;
  }

  /**
   * Takes `bytes` at `nowMs` and answers how many milliseconds the caller must wait before
   * moving more (0 while the balance stays at or above zero).
   */
  take(bytes: number, nowMs: number): number {
    this.#refill(nowMs);
    this.#tokens -= bytes;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens / this.rateBytesPerSec) * 1000);
  }

  /** Milliseconds until the balance is back at zero (0 when it is not negative). */
  waitMs(nowMs: number): number {
    this.#refill(nowMs);
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens / this.rateBytesPerSec) * 1000);
  }

  #refill(nowMs: number): void {
    // A clock that steps back refills nothing rather than draining the bucket.
    const elapsedMs = Math.max(0, nowMs - this.#updatedMs);
    this.#updatedMs = Math.max(this.#updatedMs, nowMs);
    this.#tokens = Math.min(
      this.burstBytes,
      this.#tokens + (elapsedMs * this.rateBytesPerSec) / 1000,
    );
  }
}
