/**
 * Open connections per account, against a limit (docs/limits.md#connections). Pure counting:
 * the session router acquires before it asks an exit and releases when the session ends.
 *
 * @module
 */

/**
 * Counts each account's open connections.
 *
 * @example
 * ```ts
 * const counter = new ConnectionCounter();
 * counter.tryAcquire("alice", 1); // true
 * counter.tryAcquire("alice", 1); // false: at the limit
 * counter.release("alice");
 * ```
 */
export class ConnectionCounter {
  readonly #open = new Map<string, number>();

  /** Counts one more for `account` unless it already has `max` open; true when counted. */
  tryAcquire(account: string, max: number): boolean {
    const open = this.#open.get(account) ?? 0;
    if (open >= max) return false;
    this.#open.set(account, open + 1);
    return true;
  }

  /** Counts one less for `account` (never below zero). */
  release(account: string): void {
    const open = this.#open.get(account) ?? 0;
    if (open <= 1) this.#open.delete(account);
    else this.#open.set(account, open - 1);
  }

  /** Connections `account` has open. */
  count(account: string): number {
    return this.#open.get(account) ?? 0;
  }
}
