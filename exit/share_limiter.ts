/**
 * What an exit gives away (`share`, docs/limits.md#share): a cap on sessions, a quota per period
 * and a rate per direction over all its sessions together. At a cap the exit refuses new sessions
 * with the reason `full` — a proxy then tries another exit — and tells its hubs, so discovery
 * prefers other exits; running sessions go on within the rate.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { ShareLimits } from "../core/config/limits_config.ts";
import { formatByteSize } from "../core/domain/byte_size.ts";
import { TokenBucket } from "../core/domain/token_bucket.ts";
import type { DuplexStream } from "../core/ports/stream_opener.ts";
import { meteredStream } from "../wire/metered_stream.ts";
import type { QuotaBook } from "../wire/quota_book.ts";

const logger = getLogger(["p2proxy", "exit"]);

/** The quota ledger's key for the exit's own count. */
export const SHARE_QUOTA_KEY = "share";
/** A rate's burst: half a second's worth (as at the proxy). */
const SHARE_BURST_SECS = 0.5;
const MIN_BURST_BYTES = 16 * 1024;

/**
 * Caps an exit's sessions, volume and rate.
 *
 * @example
 * ```ts
 * const share = new ShareLimiter({ sessions: 200 }, () => Date.now(), quotaBook);
 * const verdict = share.admit(activeSessions);
 * if (!verdict.ok) refuse("full", verdict.message);
 * ```
 */
export class ShareLimiter {
  readonly #share: ShareLimits;
  readonly #now: () => number;
  readonly #quota: QuotaBook;
  readonly #up?: TokenBucket;
  readonly #down?: TokenBucket;
  readonly #listeners = new Set<(full: boolean) => void>();
  #unflushed = 0;
  #full = false;

  /** Caps of `share`, counting the quota into `quota`. */
  constructor(share: ShareLimits, now: () => number, quota: QuotaBook) {
    this.#share = share;
    this.#now = now;
    this.#quota = quota;
    if (share.rateBps !== undefined) {
      const bytesPerSec = share.rateBps / 8;
      const burst = Math.max(MIN_BURST_BYTES, bytesPerSec * SHARE_BURST_SECS);
      this.#up = new TokenBucket(bytesPerSec, burst, now());
      this.#down = new TokenBucket(bytesPerSec, burst, now());
    }
  }

  /** True when some cap is configured. */
  get active(): boolean {
    return this.#share.rateBps !== undefined || this.#share.quota !== undefined ||
      this.#share.sessions !== undefined;
  }

  /** Admits one more session beside `activeSessions`, or says which cap is reached. */
  admit(activeSessions: number): { ok: true } | { ok: false; message: string } {
    const why = this.#fullBecause(activeSessions);
    return why === undefined ? { ok: true } : { ok: false, message: why };
  }

  /**
   * Re-evaluates whether the exit is full with `activeSessions` running (after a session starts
   * or ends, and every second); listeners hear each change.
   */
  update(activeSessions: number): boolean {
    this.flush();
    const full = this.#fullBecause(activeSessions) !== undefined;
    if (full !== this.#full) {
      this.#full = full;
      logger.info(
        full
          ? "The exit is full (its share caps); hubs are told."
          : "The exit takes sessions again.",
      );
      for (const listener of this.#listeners) listener(full);
    }
    return full;
  }

  /** Whether the exit was full at the last {@link update}. */
  get full(): boolean {
    return this.#full;
  }

  /** Calls `listener` whenever the exit becomes full or takes sessions again; returns an unsubscribe. */
  onChange(listener: (full: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The session's stream, rate-limited and counted (the stream itself when nothing is capped). */
  meter(stream: DuplexStream): DuplexStream {
    if (this.#up === undefined && this.#share.quota === undefined) return stream;
    return meteredStream(stream, {
      moved: (direction, bytes) => {
        this.#unflushed += bytes;
        // At the exit, reading the proxy's stream is the client's upload.
        const bucket = direction === "read" ? this.#up : this.#down;
        return bucket ? bucket.take(bytes, this.#now()) : 0;
      },
      ended: () => {},
    });
  }

  /** Moves counted bytes into the quota ledger. */
  flush(): void {
    if (this.#share.quota && this.#unflushed > 0) {
      this.#quota.ledger.add(
        SHARE_QUOTA_KEY,
        this.#share.quota.period,
        this.#unflushed,
        this.#now(),
      );
    }
    this.#unflushed = 0;
  }

  #fullBecause(activeSessions: number): string | undefined {
    const { sessions, quota } = this.#share;
    if (sessions !== undefined && activeSessions >= sessions) {
      return `The exit shares at most ${sessions} sessions at once; try another exit.`;
    }
    if (quota && this.#quota.ledger.exhausted(SHARE_QUOTA_KEY, quota, this.#now())) {
      return `The exit has shared its ${formatByteSize(quota.bytes)} for this ${quota.period}; ` +
        "try another exit.";
    }
    return undefined;
  }
}
