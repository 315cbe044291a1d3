/**
 * Usage records per account (docs/limits.md#usage): bytes up and down, sessions, errors and
 * refusals, counted per hour. The admin API serves them (`GET /v1/usage`), the hourly file keeps
 * them for billing (one JSON line per account and hour, written when the hour closes), and the
 * metrics sink gets their totals with a bounded set of account labels.
 *
 * @module
 */

/** Accounts counted under their own name per hour; the rest are summed under {@link OTHER_ACCOUNTS}. */
export const MAX_USAGE_ACCOUNTS = 10_000;
/** The name the accounts past {@link MAX_USAGE_ACCOUNTS} are summed under. */
export const OTHER_ACCOUNTS = "(other)";
/** Closed hours kept in memory for the admin API (a week). */
export const USAGE_HOURS_KEPT = 168;
const HOUR_MS = 3_600_000;

/** One account's usage in one hour: a line of the hourly file, a row of `GET /v1/usage`. */
export interface UsageRecord {
  /** Start of the hour, ISO 8601 UTC (`2026-12-07T22:00:00.000Z`). */
  readonly hour: string;
  /** The account (`""`: sessions without one on a limited port; `(other)`: past the bound). */
  readonly account: string;
  /**
   * The exit's country as the session's filters required it (the port's `country`, or the
   * username's routing part), `""` when nothing required one.
   */
  readonly country: string;
  /** Client → exit bytes. */
  readonly bytes_up: number;
  /** Exit → client bytes. */
  readonly bytes_down: number;
  /** Sessions that got an exit. */
  readonly sessions: number;
  /** Sessions admitted that got no exit (no exit, no stream, refused by the exit). */
  readonly errors: number;
  /** Sessions refused by the limits (connections or quota). */
  readonly refused: number;
}

/** The counters of one account in the current hour; what a session reports to. */
export class AccountUsage {
  bytesUp = 0;
  bytesDown = 0;
  sessions = 0;
  errors = 0;
  refused = 0;

  /** A session got its exit. */
  sessionStarted(): void {
    this.sessions++;
  }

  /** `bytes` moved, up (client → exit) or down. */
  moved(up: boolean, bytes: number): void {
    if (up) this.bytesUp += bytes;
    else this.bytesDown += bytes;
  }

  /** A session got no exit. */
  failed(): void {
    this.errors++;
  }
}

/**
 * Hourly usage per account, bounded in accounts and hours.
 *
 * @example
 * ```ts
 * const book = new UsageBook(() => Date.now());
 * book.account("alice").moved(true, 100);
 * book.records({ account: "alice" }); // [{ hour: "…", account: "alice", bytes_up: 100, … }]
 * ```
 */
export class UsageBook {
  readonly #now: () => number;
  readonly #onHourClosed: ((records: readonly UsageRecord[]) => void) | undefined;
  #hourStart: number;
  /** Counters since start, per account: sessions keep adding to the object they got. */
  readonly #live = new Map<string, AccountUsage>();
  /** The counters as they were when the current hour began. */
  #atHourStart = new Map<string, AccountUsage>();
  readonly #closed: UsageRecord[][] = [];
  /** The counters as {@link takeDeltas} last saw them. */
  readonly #reported = new Map<string, AccountUsage>();

  /** A book on `now`; `onHourClosed` gets each closed hour's records (the hourly file). */
  constructor(now: () => number, onHourClosed?: (records: readonly UsageRecord[]) => void) {
    this.#now = now;
    this.#onHourClosed = onHourClosed;
    this.#hourStart = Math.floor(now() / HOUR_MS) * HOUR_MS;
  }

  /** The counters of `account` in `country`, for a session to report to while it runs. */
  account(account: string, country = ""): AccountUsage {
    this.roll();
    return counterOf(this.#live, `${account}\n${country}`);
  }

  /** A session of `account` was refused by the limits. */
  refused(account: string, country = ""): void {
    this.account(account, country).refused++;
  }

  /**
   * What changed per account and country since the last call (for the metrics, once a second);
   * accounts without change left out.
   */
  takeDeltas(): UsageRecord[] {
    const hour = new Date(this.#hourStart).toISOString();
    const deltas: UsageRecord[] = [];
    for (const [key, now] of this.#live) {
      const before = this.#reported.get(key) ?? new AccountUsage();
      const record = difference(hour, key, now, before);
      if (record) deltas.push(record);
      this.#reported.set(key, copyOf(now));
    }
    return deltas;
  }

  /** Closes the hour when it is over (called every second, and on every new session). */
  roll(): void {
    const hourStart = Math.floor(this.#now() / HOUR_MS) * HOUR_MS;
    if (hourStart === this.#hourStart) return;
    const closed = this.#currentHour();
    this.#atHourStart = new Map([...this.#live].map(([account, u]) => [account, copyOf(u)]));
    this.#hourStart = hourStart;
    if (closed.length === 0) return;
    this.#closed.push(closed);
    if (this.#closed.length > USAGE_HOURS_KEPT) this.#closed.shift();
    this.#onHourClosed?.(closed);
  }

  /**
   * Records of the closed hours kept and the current one (partial), oldest first; filtered by
   * account and by hours that end after `sinceMs`.
   */
  records(filter: { readonly account?: string; readonly sinceMs?: number } = {}): UsageRecord[] {
    this.roll();
    const all = [...this.#closed.flat(), ...this.#currentHour()];
    return all.filter((record) =>
      (filter.account === undefined || record.account === filter.account) &&
      (filter.sinceMs === undefined || Date.parse(record.hour) + HOUR_MS > filter.sinceMs)
    );
  }

  /** This hour's records: the counters now minus the counters at its start; idle accounts left out. */
  #currentHour(): UsageRecord[] {
    const hour = new Date(this.#hourStart).toISOString();
    const records: UsageRecord[] = [];
    for (const [key, now] of this.#live) {
      const record = difference(hour, key, now, this.#atHourStart.get(key) ?? new AccountUsage());
      if (record) records.push(record);
    }
    return records;
  }
}

/** `now - before` as the record of `key` (`account\ncountry`); undefined when nothing changed. */
function difference(
  hour: string,
  key: string,
  now: AccountUsage,
  before: AccountUsage,
): UsageRecord | undefined {
  const split = key.lastIndexOf("\n");
  const record = {
    hour,
    account: split < 0 ? key : key.slice(0, split),
    country: split < 0 ? "" : key.slice(split + 1),
    bytes_up: now.bytesUp - before.bytesUp,
    bytes_down: now.bytesDown - before.bytesDown,
    sessions: now.sessions - before.sessions,
    errors: now.errors - before.errors,
    refused: now.refused - before.refused,
  };
  const changed = record.bytes_up || record.bytes_down || record.sessions || record.errors ||
    record.refused;
  return changed ? record : undefined;
}

function copyOf(usage: AccountUsage): AccountUsage {
  return Object.assign(new AccountUsage(), usage);
}

/** The counters of `account` in `map`, made on first use; past the bound, the shared "(other)". */
function counterOf(map: Map<string, AccountUsage>, account: string): AccountUsage {
  let usage = map.get(account);
  if (usage) return usage;
  const name = map.size >= MAX_USAGE_ACCOUNTS ? `${OTHER_ACCOUNTS}\n` : account;
  usage = map.get(name) ?? new AccountUsage();
  map.set(name, usage);
  return usage;
}
