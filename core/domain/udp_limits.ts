/**
 * The bounds of one UDP association (docs/proxy-behaviour.md#udp-associate): how many datagrams
 * a second it may send, and how many bytes may wait for a slow stream. Pure: the caller passes
 * the time and the sizes; the relay drops what these refuse and counts it.
 *
 * @example
 * ```ts
 * const rate = new DatagramRateLimit(1000);
 * if (!rate.allow(clock.now())) dropped++;
 * ```
 *
 * @module
 */
import { P2proxyError } from "../errors.ts";

/** An association that stays silent this long, both ways, ends (the 2 minutes). */
export const UDP_IDLE_TIMEOUT_MS = 120_000;

/** Datagrams a second one association may send each way (about 8 Mbit/s of 1 KiB datagrams). */
export const UDP_MAX_DATAGRAMS_PER_SECOND = 1_000;

/** Bytes that may wait for the stream (or the socket) per association and direction. */
export const UDP_MAX_BUFFERED_BYTES = 256 * 1024;

/** Remote ends an exit association remembers sending to (replies from others are dropped). */
export const UDP_MAX_PEERS_PER_ASSOCIATION = 256;

const WINDOW_MS = 1_000;

/**
 * At most `perSecond` datagrams in any window of one second starting at the first datagram
 * after the previous window (a fixed window: cheap, and bursts stay within twice the rate).
 */
export class DatagramRateLimit {
  readonly #perSecond: number;
  #windowStart = Number.NEGATIVE_INFINITY;
  #count = 0;

  /** Throws a `bad-option` P2proxyError for a rate that is not a positive integer. */
  constructor(perSecond: number) {
    if (!Number.isSafeInteger(perSecond) || perSecond < 1) {
      throw new P2proxyError(
        "bad-option",
        `A UDP datagram rate of ${perSecond} a second is not a positive integer.`,
      );
    }
    this.#perSecond = perSecond;
  }

  /** True when one more datagram at `nowMs` fits; counts it if so. */
  allow(nowMs: number): boolean {
    if (nowMs - this.#windowStart >= WINDOW_MS || nowMs < this.#windowStart) {
      this.#windowStart = nowMs;
      this.#count = 0;
    }
    if (this.#count >= this.#perSecond) return false;
    this.#count++;
    return true;
  }
}

/**
 * A set of recent keys bounded to `limit` entries: adding past it forgets the oldest. The exit
 * keeps the destinations an association sent to (only their replies come back) and the
 * destinations it already refused (each refusal is reported once).
 */
export class RecentKeys {
  readonly #limit: number;
  readonly #keys = new Set<string>();

  /** A set of at most `limit` keys. */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Adds (or refreshes) `key`; true when it was not there. */
  add(key: string): boolean {
    const added = !this.#keys.delete(key);
    this.#keys.add(key);
    if (this.#keys.size > this.#limit) {
      this.#keys.delete(this.#keys.values().next().value!);
    }
    return added;
  }

  /** Whether `key` is remembered. */
  has(key: string): boolean {
    return this.#keys.has(key);
  }

  /** How many keys are remembered. */
  get size(): number {
    return this.#keys.size;
  }
}
