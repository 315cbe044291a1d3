/**
 * Quota counts kept across restarts (docs/limits.md#quota): the pure ledger
 * (core/domain/quota.ts) loaded from and saved to a {@link StateFile}. The proxy keeps one per
 * process for its accounts, the exit one for its `share` quota. Saves are coalesced: at most one
 * every {@link QUOTA_SAVE_INTERVAL_MS} while bytes move, and one at stop.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import {
  MAX_QUOTA_ACCOUNTS,
  parseQuotaRecord,
  type QuotaEntry,
  QuotaLedger,
  type QuotaRecord,
} from "../core/domain/quota.ts";
import { describeError } from "../core/errors.ts";
import type { QuotaCount, QuotaStore } from "../core/ports/quota_store.ts";
import type { StateFile } from "./state_file.ts";

const logger = getLogger(["p2proxy", "limits"]);

/** Most time counted bytes wait before they are on disk: what a crash may lose. */
export const QUOTA_SAVE_INTERVAL_MS = 5_000;

/**
 * A quota ledger with its file.
 *
 * @example
 * ```ts
 * const book = await QuotaBook.open(new StateFile("state/usage_quota.json"));
 * book.ledger.add("1080/alice", "day", 1000, Date.now());
 * await book.stop();
 * ```
 */
export class QuotaBook {
  /** The counts. */
  readonly ledger: QuotaLedger;
  readonly #file: StateFile | undefined;
  readonly #timer: ReturnType<typeof setInterval> | undefined;
  #failing = false;

  private constructor(ledger: QuotaLedger, file: StateFile | undefined) {
    this.ledger = ledger;
    this.#file = file;
    this.#timer = file ? setInterval(() => void this.save(), QUOTA_SAVE_INTERVAL_MS) : undefined;
  }

  /**
   * Loads the counts from `file` (none: kept in memory only). An unreadable or bad file starts
   * from zero with one warning and is replaced on the next save.
   */
  static async open(file: StateFile | undefined): Promise<QuotaBook> {
    if (!file) return new QuotaBook(new QuotaLedger(), undefined);
    return new QuotaBook(new QuotaLedger(await loadQuotaRecord(file)), file);
  }

  /** Writes the counts when they changed since the last save; never rejects. */
  async save(): Promise<void> {
    if (!this.#file || !this.ledger.takeChanges()) return;
    this.#failing = await saveQuotaRecord(this.#file, this.ledger.toRecord(), this.#failing);
  }

  /** Stops the periodic saves and saves what is left. */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.save();
    await this.#file?.idle();
  }
}

/**
 * The proxy's quota store in one file of the state directory (`usage_quota.json`, the
 * {@link QuotaRecord} format), or in memory without a file: one process's counts, saved every
 * {@link QUOTA_SAVE_INTERVAL_MS} while they change and at {@link stop}. The state directory's lock
 * keeps a second process off it; processes that share one total use a shared store (Deno KV,
 * Redis).
 *
 * @example
 * ```ts
 * const store = await FileQuotaStore.open(new StateFile("state/usage_quota.json"));
 * await store.add([{ account: "1080/alice", period: "day:2026-12-07", bytes: 1000 }]); // [1000]
 * await store.stop();
 * ```
 */
export class FileQuotaStore implements QuotaStore {
  /** Each account's count in its latest period (the record's shape). */
  readonly #entries: Map<string, QuotaEntry>;
  readonly #file: StateFile | undefined;
  readonly #timer: ReturnType<typeof setInterval> | undefined;
  #changed = false;
  #failing = false;

  private constructor(record: QuotaRecord | undefined, file: StateFile | undefined) {
    this.#entries = new Map(Object.entries(record?.accounts ?? {}));
    this.#file = file;
    this.#timer = file ? setInterval(() => void this.save(), QUOTA_SAVE_INTERVAL_MS) : undefined;
  }

  /** Loads the counts of `file` (none: in memory only); a bad file counts from zero, with a warning. */
  static async open(file: StateFile | undefined): Promise<FileQuotaStore> {
    return new FileQuotaStore(file ? await loadQuotaRecord(file) : undefined, file);
  }

  /** Adds each count (a newer period replaces an account's older one) and answers the totals. */
  add(counts: readonly QuotaCount[]): Promise<number[]> {
    for (const count of counts) checkQuotaCount(count);
    return Promise.resolve(counts.map(({ account, period, bytes }) => {
      const entry = this.#entries.get(account);
      if (entry && pastPeriod(period, entry.period)) return 0; // already forgotten
      const before = entry?.period === period ? entry.bytes : 0;
      if (bytes === 0) return before;
      if (!entry && this.#entries.size >= MAX_QUOTA_ACCOUNTS) this.#dropPastPeriods(period);
      this.#entries.set(account, { period, bytes: before + bytes });
      this.#changed = true;
      return before + bytes;
    }));
  }

  /** Writes the counts when they changed since the last save; never rejects. */
  async save(): Promise<void> {
    if (!this.#file || !this.#changed) return;
    this.#changed = false;
    const record: QuotaRecord = { version: 1, accounts: Object.fromEntries(this.#entries) };
    this.#failing = await saveQuotaRecord(this.#file, record, this.#failing);
  }

  /** Stops the periodic saves and saves what is left. */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.save();
    await this.#file?.idle();
  }

  /** Keeps the file bounded: counts of periods before `current` go (their kind's key sorts lower). */
  #dropPastPeriods(current: string): void {
    for (const [account, entry] of this.#entries) {
      if (pastPeriod(entry.period, current)) this.#entries.delete(account);
    }
  }
}

/** True when `period` is of the same kind as `than` and before it. */
function pastPeriod(period: string, than: string): boolean {
  const kind = than.slice(0, than.indexOf(":") + 1);
  return period.startsWith(kind) && period < than;
}

/**
 * Throws a `RangeError` quoting a count the {@link QuotaStore} contract refuses (bytes not a safe
 * integer ≥ 0, an empty account or period); every store checks its counts with it.
 */
export function checkQuotaCount(count: QuotaCount): void {
  if (!Number.isSafeInteger(count.bytes) || count.bytes < 0) {
    throw new RangeError(
      `A quota count's bytes must be a whole number from 0 to 2^53 - 1, not ${count.bytes} ` +
        `(account ${JSON.stringify(count.account)}).`,
    );
  }
  if (count.account === "" || count.period === "") {
    throw new RangeError(
      `A quota count needs an account and a period, not ${JSON.stringify(count)}.`,
    );
  }
}

/**
 * The record in `file`: undefined when there is none, or when it is unreadable or bad (with one
 * warning: counting starts from zero and the next save replaces it).
 */
async function loadQuotaRecord(file: StateFile): Promise<QuotaRecord | undefined> {
  let text: string | undefined;
  try {
    text = await file.load();
  } catch (error) {
    logger.warn("Could not read the quota counts {path} ({error}); counting from zero.", {
      path: file.path,
      error: describeError(error),
    });
  }
  if (text === undefined) return undefined;
  const parsed = parseQuotaRecord(text);
  if (!parsed.ok) {
    logger.warn("Ignoring the quota counts {path}: {reason}; counting from zero.", {
      path: file.path,
      reason: parsed.message,
    });
    return undefined;
  }
  if (parsed.skipped > 0) {
    logger.warn("Skipped {count} bad entries of the quota counts {path}.", {
      path: file.path,
      count: parsed.skipped,
    });
  }
  return parsed.record;
}

/** Saves `record` to `file`; answers whether saving fails now (a failure is logged once). */
async function saveQuotaRecord(
  file: StateFile,
  record: QuotaRecord,
  wasFailing: boolean,
): Promise<boolean> {
  try {
    await file.save(`${JSON.stringify(record)}\n`);
    if (wasFailing) logger.info("The quota counts {path} are saved again.", { path: file.path });
    return false;
  } catch (error) {
    if (!wasFailing) {
      logger.warn(
        "Could not save the quota counts {path} ({error}); they are kept in memory. Check that " +
          "the state directory is writable.",
        { path: file.path, error: describeError(error) },
      );
    }
    return true;
  }
}
