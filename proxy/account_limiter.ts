/**
 * The proxy's per-account limits (docs/limits.md): admits a session or says why not (`limit`:
 * too many connections; `quota`: the period's bytes are used up), and meters an admitted
 * session's stream — its rate through a token bucket per account and direction, its bytes into
 * the quota tally and the usage records. Decisions come from the pure core
 * (core/domain/token_bucket.ts, connection_counter.ts, quota.ts); this file keeps their state
 * per port and account.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { type AccountLimits, limitsOf, type PortLimits } from "../core/config/limits_config.ts";
import type { ServerConfig } from "../core/config/proxy_config.ts";
import { formatBandwidth } from "../core/domain/bandwidth.ts";
import { formatByteSize } from "../core/domain/byte_size.ts";
import { ConnectionCounter } from "../core/domain/connection_counter.ts";
import { TokenBucket } from "../core/domain/token_bucket.ts";
import type { DuplexStream } from "../core/ports/stream_opener.ts";
import { meteredStream, type StreamDirection } from "../wire/metered_stream.ts";
import type { QuotaTally } from "./quota_tally.ts";
import type { UsageBook } from "./usage_book.ts";

const logger = getLogger(["p2proxy", "limits"]);

/** A rate's burst: this much of a second's worth moves at once after a quiet spell. */
export const RATE_BURST_SECS = 0.5;
/** Smallest burst, so a slow rate still moves whole relay reads. */
export const MIN_BURST_BYTES = 16 * 1024;
/** Buckets kept for accounts with no connection open, before the oldest are dropped. */
const MAX_IDLE_BUCKETS = 10_000;

/** Why a session was not admitted; a door maps the reason (SOCKS5 02; HTTP 429 / 403). */
export interface LimitRefusal {
  readonly ok: false;
  readonly reason: "limit" | "quota";
  /** One line for the client's log and ours. */
  readonly message: string;
}

/** An admitted session: meter its stream once it has one, or give the slot back. */
export interface AccountLease {
  readonly ok: true;
  /** The exit's stream, metered: rate-limited and counted until it ends. */
  wrap(stream: DuplexStream): DuplexStream;
  /** No stream came (the exit or the network said no): the slot is given back, an error counted. */
  fail(): void;
}

/** What {@link AccountLimiter.admit} answers. */
export type Admission = { readonly ok: true; readonly lease?: AccountLease } | LimitRefusal;

/** A session's account under the names each count keeps it by. */
interface SessionNames {
  /** `<port>/<account>`: connections and rate buckets. */
  readonly key: string;
  /** `<quota scope or port>/<account>`: the quota total. */
  readonly quotaKey: string;
  /** The account (`""`: none). */
  readonly name: string;
  /** The required exit country, for the usage records. */
  readonly where: string;
}

interface Buckets {
  readonly up?: TokenBucket;
  readonly down?: TokenBucket;
}

/**
 * Admits and meters sessions per port and account.
 *
 * @example
 * ```ts
 * const admission = limiter.admit(1080, "alice");
 * if (!admission.ok) return refuse(admission.reason, admission.message);
 * const stream = admission.lease?.wrap(exitStream) ?? exitStream;
 * ```
 */
export class AccountLimiter {
  readonly #limits: Map<number, PortLimits>;
  /** Each port's required exit country, for the usage records. */
  readonly #countries: Map<number, string>;
  readonly #now: () => number;
  readonly #quota: QuotaTally;
  readonly #usage: UsageBook | undefined;
  readonly #connections = new ConnectionCounter();
  readonly #buckets = new Map<string, Buckets>();
  /** Each running session's bytes not yet in the quota tally, moved there by {@link flush}. */
  readonly #unflushed = new Set<() => void>();

  /** Limits of `servers` (those with a `limits` key), counting into `quota` and `usage`. */
  constructor(
    servers:
      readonly (Pick<ServerConfig, "port" | "limits"> & { filters?: { country?: string } })[],
    now: () => number,
    quota: QuotaTally,
    usage?: UsageBook,
  ) {
    this.#limits = new Map(
      servers.flatMap((s) => (s.limits ? [[s.port, s.limits] as const] : [])),
    );
    this.#countries = new Map(
      servers.flatMap((s) => (s.filters?.country ? [[s.port, s.filters.country] as const] : [])),
    );
    this.#now = now;
    this.#quota = quota;
    this.#usage = usage;
  }

  /** True when some port has limits (a quota file is then worth keeping). */
  get active(): boolean {
    return this.#limits.size > 0;
  }

  /**
   * Admits a session of `account` (undefined: a port without users, the account `""`) on `port`,
   * or says why not. `lease` is absent when nothing is limited or recorded for it. `country` is
   * the exit country the session's own selection requires, if any (else the port's). Synchronous,
   * except for an account with a quota whose total this process has not read yet: then the
   * answer waits for that read (docs/limits.md#shared-quota).
   */
  admit(
    port: number,
    account: string | undefined,
    country?: string,
  ): Admission | Promise<Admission> {
    const portLimits = this.#limits.get(port);
    if (!portLimits && (account === undefined || !this.#usage)) return { ok: true };
    const name = account ?? "";
    const limits = portLimits ? limitsOf(portLimits, name) : {};
    const key = `${port}/${name}`;
    // Quota totals are counted per scope (the port unless `quota_scope` names one) and account.
    const quotaKey = `${portLimits?.quotaScope ?? port}/${name}`;
    const where = country ?? this.#countries.get(port) ?? "";
    const now = this.#now();
    if (limits.quota && !this.#quota.known(quotaKey, limits.quota.period, now)) {
      return this.#quota.load(quotaKey, limits.quota.period, now).then(() =>
        this.#decide(port, { key, quotaKey, name, where }, limits)
      );
    }
    return this.#decide(port, { key, quotaKey, name, where }, limits);
  }

  #decide(port: number, names: SessionNames, limits: AccountLimits): Admission {
    const { key, quotaKey, name, where } = names;
    const now = this.#now();
    if (limits.quota) this.#quota.watch(quotaKey, limits.quota.period, now);
    if (limits.quota && this.#quota.exhausted(quotaKey, limits.quota, now)) {
      const message = `Account "${name}" has used its quota of ` +
        `${formatByteSize(limits.quota.bytes)} per ${limits.quota.period} on port ${port}.`;
      if (this.#quota.firstReport(quotaKey, limits.quota.period, now)) logger.warn(message);
      this.#usage?.refused(name, where);
      return { ok: false, reason: "quota", message };
    }
    if (
      limits.connections !== undefined && !this.#connections.tryAcquire(key, limits.connections)
    ) {
      this.#usage?.refused(name, where);
      return {
        ok: false,
        reason: "limit",
        message: `Account "${name}" has its maximum of ${limits.connections} connections open ` +
          `on port ${port}.`,
      };
    }
    return { ok: true, lease: this.#lease(names, limits) };
  }

  #lease(names: SessionNames, limits: AccountLimits): AccountLease {
    const { key, quotaKey, name: account, where: country } = names;
    const buckets = limits.rateBps === undefined ? {} : this.#bucketsOf(key, limits.rateBps);
    const counted = limits.connections !== undefined;
    const tally = this.#quota;
    const usage = this.#usage?.account(account, country);
    let released = false;
    let pending = 0;
    const flush = () => {
      if (limits.quota && pending > 0) {
        tally.add(quotaKey, limits.quota.period, pending, this.#now());
      }
      pending = 0;
    };
    if (limits.quota) this.#unflushed.add(flush);
    const release = () => {
      if (released) return;
      released = true;
      if (counted) this.#connections.release(key);
      flush();
      this.#unflushed.delete(flush);
      this.#dropIdleBuckets();
    };
    return {
      ok: true,
      wrap: (stream) => {
        usage?.sessionStarted();
        return meteredStream(stream, {
          moved: (direction: StreamDirection, bytes: number) => {
            pending += bytes;
            // At the proxy, writing to the exit's stream is the client's upload.
            const up = direction === "write";
            usage?.moved(up, bytes);
            const bucket = up ? buckets.up : buckets.down;
            return bucket ? bucket.take(bytes, this.#now()) : 0;
          },
          ended: release,
        });
      },
      fail: () => {
        usage?.failed();
        release();
      },
    };
  }

  /**
   * Moves running sessions' bytes into the quota tally (the proxy calls it every second, before
   * the tally's sync), so a new session sees what long ones used; the bytes themselves are counted
   * per chunk, cheaply.
   */
  flush(): void {
    for (const flush of this.#unflushed) flush();
  }

  #bucketsOf(key: string, rateBps: number): Buckets {
    let buckets = this.#buckets.get(key);
    if (!buckets) {
      const bytesPerSec = rateBps / 8;
      const burst = Math.max(MIN_BURST_BYTES, bytesPerSec * RATE_BURST_SECS);
      const now = this.#now();
      buckets = {
        up: new TokenBucket(bytesPerSec, burst, now),
        down: new TokenBucket(bytesPerSec, burst, now),
      };
      this.#buckets.set(key, buckets);
      logger.debug("Rate of {key}: {rate} each way.", { key, rate: formatBandwidth(rateBps) });
    }
    return buckets;
  }

  /** Keeps the bucket map bounded: past the bound, buckets of accounts with nothing open go. */
  #dropIdleBuckets(): void {
    if (this.#buckets.size <= MAX_IDLE_BUCKETS) return;
    for (const key of this.#buckets.keys()) {
      if (this.#connections.count(key) === 0) this.#buckets.delete(key);
    }
  }
}
