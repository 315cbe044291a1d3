/**
 * Quota accounting by period (docs/limits.md#quota): bytes per account in the current day, week
 * or month (UTC), a record to persist so a restart does not reset them, and the parser that reads
 * the record back. Pure: the caller passes the time and does the I/O.
 *
 * @module
 */

/** A quota's period: the count starts again at 00:00 UTC of each day, Monday, or 1st. */
export type QuotaPeriod = "day" | "week" | "month";

/** The periods a config may name. */
export const QUOTA_PERIODS: readonly QuotaPeriod[] = ["day", "week", "month"];

/** A quota: at most `bytes` (both directions summed) per `period`. */
export interface Quota {
  /** Bytes allowed per period (both directions summed). */
  readonly bytes: number;
  /** When the count starts again. */
  readonly period: QuotaPeriod;
}

/** Most accounts a record holds: bounds the file and the parser's work. */
export const MAX_QUOTA_ACCOUNTS = 100_000;

/** Longest account name kept (RFC 1929's username limit). */
const MAX_ACCOUNT_CHARS = 255;

/**
 * The key of the period `nowMs` falls in, with its kind: `day:2026-12-07`, `week:2026-12-07`
 * (the Monday it starts on), `month:2026-12`.
 *
 * @example
 * ```ts
 * periodKey("month", Date.UTC(2026, 11, 7)); // "month:2026-12"
 * ```
 */
export function periodKey(period: QuotaPeriod, nowMs: number): string {
  const now = new Date(nowMs);
  if (period === "month") return `month:${now.toISOString().slice(0, 7)}`;
  if (period === "day") return `day:${now.toISOString().slice(0, 10)}`;
  const daysSinceMonday = (now.getUTCDay() + 6) % 7;
  const monday = new Date(
    Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - daysSinceMonday),
  );
  return `week:${monday.toISOString().slice(0, 10)}`;
}

/**
 * When the period `key` (a {@link periodKey}) ends, in ms since the epoch; undefined for a key
 * that is not one. A shared store lets a period's totals expire some time after this.
 *
 * @example
 * ```ts
 * periodEndMs("month:2026-12"); // Date.UTC(2027, 0, 1)
 * periodEndMs("week:2026-12-07"); // Date.UTC(2026, 11, 14)
 * ```
 */
export function periodEndMs(key: string): number | undefined {
  if (!PERIOD_KEY_PATTERN.test(key)) return undefined;
  const [kind, date] = key.split(":") as [QuotaPeriod, string];
  const [year, month, day] = date.split("-").map(Number) as [number, number, number?];
  if (kind === "month") return Date.UTC(year, month, 1);
  return Date.UTC(year, month - 1, (day ?? 1) + (kind === "day" ? 1 : 7));
}

/** One account's count in one period. */
export interface QuotaEntry {
  /** {@link periodKey} of the period counted. */
  readonly period: string;
  /** Bytes both ways in that period. */
  readonly bytes: number;
}

/** What is persisted: version 1, each account's count in its current period. */
export interface QuotaRecord {
  readonly version: 1;
  readonly accounts: Readonly<Record<string, QuotaEntry>>;
}

/**
 * Bytes per account in the current period of its quota; the period rolls over by itself.
 *
 * @example
 * ```ts
 * const ledger = new QuotaLedger();
 * const quota = { bytes: 5_000_000, period: "day" } as const;
 * ledger.add("alice", quota.period, 6_000_000, Date.now());
 * ledger.exhausted("alice", quota, Date.now()); // true
 * ```
 */
export class QuotaLedger {
  readonly #entries = new Map<string, { period: string; bytes: number }>();
  /** `account\nperiod` of the exhaustions already reported, so each is logged once. */
  readonly #reported = new Set<string>();
  #changed = false;

  /** A ledger holding `record`'s counts (an empty one without). */
  constructor(record?: QuotaRecord) {
    for (const [account, entry] of Object.entries(record?.accounts ?? {})) {
      this.#entries.set(account, { ...entry });
    }
  }

  /** Counts `bytes` for `account` in the current `period`. */
  add(account: string, period: QuotaPeriod, bytes: number, nowMs: number): void {
    if (bytes <= 0) return;
    const entry = this.#current(account, period, nowMs);
    entry.bytes += bytes;
    this.#changed = true;
  }

  /** Bytes `account` used in the current `period`. */
  used(account: string, period: QuotaPeriod, nowMs: number): number {
    const entry = this.#entries.get(account);
    return entry?.period === periodKey(period, nowMs) ? entry.bytes : 0;
  }

  /** True when `account` has used all of `quota` in its current period. */
  exhausted(account: string, quota: Quota, nowMs: number): boolean {
    return this.used(account, quota.period, nowMs) >= quota.bytes;
  }

  /** True the first time it is asked for `account` in the current period: log an exhaustion once. */
  firstReport(account: string, period: QuotaPeriod, nowMs: number): boolean {
    const key = `${account}\n${periodKey(period, nowMs)}`;
    if (this.#reported.has(key)) return false;
    this.#reported.add(key);
    return true;
  }

  /** True when counts changed since the last {@link takeChanges}; clears the flag. */
  takeChanges(): boolean {
    const changed = this.#changed;
    this.#changed = false;
    return changed;
  }

  /** A snapshot to persist. */
  toRecord(): QuotaRecord {
    return {
      version: 1,
      accounts: Object.fromEntries([...this.#entries].map(([a, e]) => [a, { ...e }])),
    };
  }

  #current(account: string, period: QuotaPeriod, nowMs: number) {
    const key = periodKey(period, nowMs);
    let entry = this.#entries.get(account);
    if (!entry || entry.period !== key) {
      entry = { period: key, bytes: 0 };
      this.#entries.set(account, entry);
    }
    return entry;
  }
}

/** A parsed record, or why the text is not one. */
export type ParsedQuotaRecord =
  | { readonly ok: true; readonly record: QuotaRecord; readonly skipped: number }
  | { readonly ok: false; readonly message: string };

const PERIOD_KEY_PATTERN = /^(?:day:\d{4}-\d{2}-\d{2}|week:\d{4}-\d{2}-\d{2}|month:\d{4}-\d{2})$/;

/**
 * Reads a persisted {@link QuotaRecord}; bad entries are skipped (and counted), anything that is
 * not a version-1 record is refused with the reason. Never throws.
 *
 * @example
 * ```ts
 * parseQuotaRecord('{"version":1,"accounts":{"alice":{"period":"day:2026-12-07","bytes":5}}}').ok; // true
 * ```
 */
export function parseQuotaRecord(text: string): ParsedQuotaRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, message: `not JSON (${(error as Error).message})` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, message: "not a JSON object" };
  }
  const { version, accounts } = value as Record<string, unknown>;
  if (version !== 1) return { ok: false, message: `version ${JSON.stringify(version)} is not 1` };
  if (typeof accounts !== "object" || accounts === null || Array.isArray(accounts)) {
    return { ok: false, message: "`accounts` is not an object" };
  }
  const kept: [string, QuotaEntry][] = [];
  let skipped = 0;
  let count = 0;
  for (const [account, entry] of Object.entries(accounts)) {
    if (count >= MAX_QUOTA_ACCOUNTS || !validEntry(account, entry)) {
      skipped++;
      continue;
    }
    kept.push([account, { period: entry.period, bytes: entry.bytes }]);
    count++;
  }
  // fromEntries defines own properties: an account named `__proto__` stays an account.
  return { ok: true, record: { version: 1, accounts: Object.fromEntries(kept) }, skipped };
}

function validEntry(account: string, entry: unknown): entry is QuotaEntry {
  if (account.length === 0 || account.length > MAX_ACCOUNT_CHARS) return false;
  if (typeof entry !== "object" || entry === null) return false;
  const { period, bytes } = entry as Record<string, unknown>;
  return typeof period === "string" && PERIOD_KEY_PATTERN.test(period) &&
    typeof bytes === "number" && Number.isSafeInteger(bytes) && bytes >= 0;
}
