/**
 * Time, behind a port so that domain tests never sleep.
 *
 * @module
 */

/** A callback scheduled with {@link Clock.setTimer}. */
export interface ClockTimer {
  /**
   * Cancels the callback if it has not run yet, and releases whatever the
   * clock holds for it. Calling it again, or after the callback ran, does
   * nothing.
   */
  cancel(): void;
}

/** Wall-clock time, sleeping, and timers. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /**
   * Resolves after `ms` milliseconds. Rejects with the signal's reason when
   * `signal` aborts first.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * Runs `callback` once, `ms` milliseconds from now (a negative delay counts
   * as 0), unless the returned timer is cancelled first. The callback never
   * runs inside `setTimer` itself; timers due at different times run in the
   * order of their deadlines. The callback must not throw. For a task that
   * waits, use {@link sleep}; a timer is for an owner that reacts to time (an
   * actor's cooldowns and periodic work), so a fake clock can fire it only
   * when its time passes the deadline.
   *
   * @example
   * ```ts
   * const timer = clock.setTimer(15_000, () => mailbox.post({ type: "ping-due" }));
   * timer.cancel(); // on stop
   * ```
   */
  setTimer(ms: number, callback: () => void): ClockTimer;
}
