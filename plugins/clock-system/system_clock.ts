/**
 * The real clock: `Date.now()` and `setTimeout`.
 *
 * @module
 */
import type { Clock, ClockTimer } from "../../core/ports/clock.ts";

/**
 * Wall-clock time, timer-based sleeps and timers. An aborted sleep and a
 * cancelled timer clear their `setTimeout`, so nothing leaks.
 */
export class SystemClock implements Clock {
  /** Milliseconds since the Unix epoch (`Date.now()`). */
  now(): number {
    return Date.now();
  }

  /**
   * Resolves after `ms` milliseconds (negative counts as 0). Rejects with the
   * signal's reason when `signal` is aborted before or during the sleep.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, Math.max(0, ms));
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * Runs `callback` once after `ms` milliseconds (negative counts as 0), on a
   * `setTimeout` that `cancel()` clears.
   */
  setTimer(ms: number, callback: () => void): ClockTimer {
    const id = setTimeout(callback, Math.max(0, ms));
    return { cancel: () => clearTimeout(id) };
  }
}
