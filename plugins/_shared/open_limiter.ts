/**
 * Per-peer limit on concurrent stream opens (docs/proxy-behaviour.md#stream-limits:
 * `pool.max_total` concurrent opens per peer, per server), with a deadline for waiting.
 *
 * @module
 */

/** A counting semaphore per key; waiters are served first come, first served. */
export class OpenLimiter {
  readonly #active = new Map<string, number>();
  readonly #waiting = new Map<string, Array<() => void>>();

  /**
   * Waits for a slot for `key` while fewer than `limit` are taken; resolves a
   * release function. Rejects with the signal's reason when it aborts first.
   */
  async acquire(key: string, limit: number, signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if ((this.#active.get(key) ?? 0) >= limit) {
      await new Promise<void>((resolve, reject) => {
        const queue = this.#waiting.get(key) ?? [];
        this.#waiting.set(key, queue);
        const wake = () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        };
        const onAbort = () => {
          const index = queue.indexOf(wake);
          if (index >= 0) queue.splice(index, 1);
          if (queue.length === 0) this.#waiting.delete(key);
          reject(signal!.reason);
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        queue.push(wake);
      });
    } else {
      this.#active.set(key, (this.#active.get(key) ?? 0) + 1);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#release(key);
    };
  }

  /** Slots in use for `key` (for tests and metrics). */
  active(key: string): number {
    return this.#active.get(key) ?? 0;
  }

  #release(key: string): void {
    const queue = this.#waiting.get(key);
    const next = queue?.shift();
    if (queue && queue.length === 0) this.#waiting.delete(key);
    // The slot passes straight to the next waiter, so the count stays the same.
    if (next) return next();
    const count = (this.#active.get(key) ?? 1) - 1;
    if (count <= 0) this.#active.delete(key);
    else this.#active.set(key, count);
  }
}
