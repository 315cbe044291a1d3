/**
 * The sticky store kept in a JSON file (docs/proxy-behaviour.md#sticky-store), `sticky_peers.json`
 * in the state directory by default.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { basename, dirname, join } from "node:path";
import { describeError } from "../../core/errors.ts";
import {
  emptyStickyRecord,
  emptyStickySessionsRecord,
  type StickyRecord,
  type StickySessionsRecord,
  type StickyStore,
} from "../../core/ports/sticky_store.ts";
import { LatestWriter } from "../_shared/latest_writer.ts";
import { parseStickyJson } from "../_shared/sticky_record.ts";
import { parseSessionsJson } from "../_shared/sticky_sessions.ts";

const logger = getLogger(["p2proxy", "sticky-file"]);

/** Skipped entries named in one warning; the rest are counted. */
const MAX_SKIPPED_IN_LOG = 5;

/**
 * Keeps the sticky record in a versioned JSON file, written atomically (a
 * unique temp file in the same folder, then a rename over the target), so a
 * crash or a concurrent writer never leaves a half-written file. Saves are
 * serialised and coalesced: the last save wins.
 *
 * A missing file loads as empty. A corrupt, old or unknown-version file loads
 * as empty (or as its valid entries) with one warning, and is overwritten on
 * the next save. Nothing here throws: read and write failures are logged and
 * the pools live on in memory.
 *
 * Username sessions (docs/proxy-behaviour.md#sessions) go to a file of their own beside it,
 * {@link sessionsPathOf}, written the same way, so the pools' file keeps its format.
 */
export class FileStickyStore implements StickyStore {
  /** The file this store reads and writes. */
  readonly path: string;
  /** The file of the username sessions ({@link sessionsPathOf} `path`). */
  readonly sessionsPath: string;
  readonly #writer: LatestWriter<string>;
  readonly #sessionsWriter: LatestWriter<string>;
  #warnedAboutSessions = false;
  /** Set once the current file's problems were logged; cleared when a save replaces it. */
  #warnedAboutFile = false;
  /** Set while saves fail, so a failing disk logs one warning, not one per save. */
  #failing = false;

  /** A store over the file at `path`; nothing is read or written until `load` or `save`. */
  constructor(path: string) {
    this.path = path;
    this.sessionsPath = sessionsPathOf(path);
    this.#writer = new LatestWriter(
      (text) => this.#writeFile(text),
      (error) => logger.error("Unexpected failure saving {path}: {error}", this.#fields(error)),
    );
    this.#sessionsWriter = new LatestWriter(
      (text) => this.#writeSessionsFile(text),
      (error) =>
        logger.error("Unexpected failure saving {path}: {error}", {
          path: this.sessionsPath,
          error: describeError(error),
        }),
    );
  }

  /** The saved sessions; none when their file is missing or unusable (with one warning). */
  async loadSessions(): Promise<StickySessionsRecord> {
    await this.#sessionsWriter.idle();
    let text: string;
    try {
      text = await Deno.readTextFile(this.sessionsPath);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return emptyStickySessionsRecord();
      this.#warnSessionsOnce(`it could not be read (${describeError(error)})`);
      return emptyStickySessionsRecord();
    }
    const parsed = parseSessionsJson(text);
    if (parsed.unusable !== undefined) this.#warnSessionsOnce(parsed.unusable);
    else if (parsed.skipped.length > 0) {
      this.#warnSessionsOnce(
        `${parsed.skipped.length} bad entries were skipped (${summarise(parsed.skipped)})`,
      );
    }
    return parsed.record;
  }

  /** Saves a snapshot of the sessions; resolves once on disk or failed, never rejects. */
  saveSessions(record: StickySessionsRecord): Promise<void> {
    return this.#sessionsWriter.write(`${JSON.stringify(record, null, 2)}\n`);
  }

  /** The saved record; empty when the file is missing or unusable. Waits for queued saves first. */
  async load(): Promise<StickyRecord> {
    await this.#writer.idle();
    let text: string;
    try {
      text = await Deno.readTextFile(this.path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return emptyStickyRecord();
      this.#warnOnce(
        "Could not read the sticky store {path} ({error}); starting with empty pools.",
        this.#fields(error),
      );
      return emptyStickyRecord();
    }
    const parsed = parseStickyJson(text);
    if (parsed.unusable !== undefined) {
      this.#warnOnce(
        "Ignoring the sticky store {path}: {reason}. Starting with empty pools; " +
          "the file will be overwritten on the next save.",
        { path: this.path, reason: parsed.unusable },
      );
    } else if (parsed.skipped.length > 0) {
      this.#warnOnce(
        "Skipped {count} bad entries of the sticky store {path}: {entries}. " +
          "The file will be rewritten without them on the next save.",
        {
          path: this.path,
          count: parsed.skipped.length,
          entries: summarise(parsed.skipped),
        },
      );
    }
    return parsed.record;
  }

  /**
   * Saves a snapshot of `record` (taken now, so later changes to it do not
   * leak in). Resolves once it, or a newer save, is on disk or has failed;
   * never rejects.
   */
  save(record: StickyRecord): Promise<void> {
    let text: string;
    try {
      text = `${JSON.stringify(record, null, 2)}\n`;
    } catch (error) {
      logger.error(
        "Could not serialise the sticky record for {path}: {error}",
        this.#fields(error),
      );
      return Promise.resolve();
    }
    return this.#writer.write(text);
  }

  /** Resolves once every queued save has finished (call before exiting). */
  async flush(): Promise<void> {
    await Promise.all([this.#writer.idle(), this.#sessionsWriter.idle()]);
  }

  async #writeSessionsFile(text: string): Promise<void> {
    try {
      await Deno.mkdir(dirname(this.sessionsPath), { recursive: true });
      await writeFileAtomically(this.sessionsPath, new TextEncoder().encode(text));
      this.#warnedAboutSessions = false;
    } catch (error) {
      // The pools' writer reports a failing disk; this one stays quieter.
      logger.debug("Saving the sessions {path} failed: {error}", {
        path: this.sessionsPath,
        error: describeError(error),
      });
      this.#warnSessionsOnce(`it could not be written (${describeError(error)})`);
    }
  }

  #warnSessionsOnce(reason: string): void {
    if (this.#warnedAboutSessions) return;
    this.#warnedAboutSessions = true;
    logger.warn(
      "The sessions file {path} is not usable: {reason}. Sessions start afresh; the file is " +
        "rewritten on the next save.",
      { path: this.sessionsPath, reason },
    );
  }

  async #writeFile(text: string): Promise<void> {
    try {
      await Deno.mkdir(dirname(this.path), { recursive: true });
      await writeFileAtomically(this.path, new TextEncoder().encode(text));
    } catch (error) {
      if (this.#failing) {
        logger.debug("Saving the sticky store {path} failed again: {error}", this.#fields(error));
      } else {
        logger.warn(
          "Could not save the sticky store {path} ({error}). The pools are kept in memory; " +
            "check that the state directory exists and is writable.",
          this.#fields(error),
        );
      }
      this.#failing = true;
      return;
    }
    if (this.#failing) logger.info("The sticky store {path} is saved again.", { path: this.path });
    this.#failing = false;
    this.#warnedAboutFile = false;
  }

  #warnOnce(message: string, fields: Record<string, unknown>): void {
    if (this.#warnedAboutFile) return;
    this.#warnedAboutFile = true;
    logger.warn(message, fields);
  }

  #fields(error: unknown): Record<string, unknown> {
    return { path: this.path, error: describeError(error) };
  }
}

/**
 * The sessions file beside a sticky file: `sticky_peers.json` → `sticky_peers.sessions.json`.
 *
 * @example
 * ```ts
 * sessionsPathOf("/var/lib/p2proxy/sticky_peers.json"); // "/var/lib/p2proxy/sticky_peers.sessions.json"
 * ```
 */
export function sessionsPathOf(path: string): string {
  return path.endsWith(".json")
    ? `${path.slice(0, -".json".length)}.sessions.json`
    : `${path}.sessions.json`;
}

/**
 * Writes `bytes` to a unique temp file beside `path`, then renames it over
 * `path`. Removes the temp file when anything fails.
 */
export async function writeFileAtomically(path: string, bytes: Uint8Array): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${crypto.randomUUID()}.tmp`);
  try {
    await Deno.writeFile(temp, bytes, { createNew: true });
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {
      // Usually NotFound: the temp file was never created.
    });
    throw error;
  }
}

function summarise(lines: readonly string[]): string {
  const shown = lines.slice(0, MAX_SKIPPED_IN_LOG).join("; ");
  const more = lines.length - MAX_SKIPPED_IN_LOG;
  return more > 0 ? `${shown}; and ${more} more` : shown;
}
