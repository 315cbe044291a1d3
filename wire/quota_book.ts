/**
 * Quota counts kept across restarts (docs/limits.md#quota): the pure ledger
 * (core/domain/quota.ts) loaded from and saved to a {@link StateFile}. The proxy keeps one per
 * process for its accounts, the exit one for its `share` quota. Saves are coalesced: at most one
 * every {@link QUOTA_SAVE_INTERVAL_MS} while bytes move, and one at stop.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { parseQuotaRecord, QuotaLedger } from "../core/domain/quota.ts";
import { describeError } from "../core/errors.ts";
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
    let text: string | undefined;
    try {
      text = await file.load();
    } catch (error) {
      logger.warn("Could not read the quota counts {path} ({error}); counting from zero.", {
        path: file.path,
        error: describeError(error),
      });
    }
    if (text === undefined) return new QuotaBook(new QuotaLedger(), file);
    const parsed = parseQuotaRecord(text);
    if (!parsed.ok) {
      logger.warn("Ignoring the quota counts {path}: {reason}; counting from zero.", {
        path: file.path,
        reason: parsed.message,
      });
      return new QuotaBook(new QuotaLedger(), file);
    }
    if (parsed.skipped > 0) {
      logger.warn("Skipped {count} bad entries of the quota counts {path}.", {
        path: file.path,
        count: parsed.skipped,
      });
    }
    return new QuotaBook(new QuotaLedger(parsed.record), file);
  }

  /** Writes the counts when they changed since the last save; never rejects. */
  async save(): Promise<void> {
    if (!this.#file || !this.ledger.takeChanges()) return;
    try {
      await this.#file.save(`${JSON.stringify(this.ledger.toRecord())}\n`);
      if (this.#failing) {
        logger.info("The quota counts {path} are saved again.", { path: this.#file.path });
      }
      this.#failing = false;
    } catch (error) {
      if (!this.#failing) {
        logger.warn(
          "Could not save the quota counts {path} ({error}); they are kept in memory. Check that " +
            "the state directory is writable.",
          { path: this.#file.path, error: describeError(error) },
        );
      }
      this.#failing = true;
    }
  }

  /** Stops the periodic saves and saves what is left. */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.save();
    await this.#file?.idle();
  }
}
