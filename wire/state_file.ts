/**
 * A small file in the state directory written whole and atomically (a temp file in the same
 * folder, then a rename), one write at a time, the newest winning: what the limits keep their
 * quota counts in (docs/limits.md#quota), so a restart or a crash mid-write never loses them all.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";

/**
 * Reads and writes one text file atomically.
 *
 * @example
 * ```ts
 * const file = new StateFile("state/usage_quota.json");
 * await file.save('{"version":1,"accounts":{}}');
 * await file.load(); // the text, or undefined when there is no file yet
 * ```
 */
export class StateFile {
  /** The file's path. */
  readonly path: string;
  #tail: Promise<void> = Promise.resolve();
  #next: string | undefined;

  /** A file at `path`; nothing is touched until `load` or `save`. */
  constructor(path: string) {
    this.path = path;
  }

  /** The file's text; undefined when it does not exist. Other failures reject. */
  async load(): Promise<string | undefined> {
    await this.#tail;
    try {
      return await Deno.readTextFile(this.path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }

  /**
   * Writes `text` after the write in progress (a newer save replaces a queued one). Resolves once
   * written; rejects with the write's error.
   */
  save(text: string): Promise<void> {
    const queued = this.#next !== undefined;
    this.#next = text;
    if (queued) return this.#tail;
    this.#tail = this.#tail.catch(() => {}).then(async () => {
      const latest = this.#next!;
      this.#next = undefined;
      await Deno.mkdir(dirname(this.path), { recursive: true });
      const temp = join(dirname(this.path), `.${basename(this.path)}.${crypto.randomUUID()}.tmp`);
      try {
        await Deno.writeTextFile(temp, latest, { createNew: true });
        await Deno.rename(temp, this.path);
      } catch (error) {
        await Deno.remove(temp).catch(() => {});
        throw error;
      }
    });
    return this.#tail;
  }

  /** Resolves once no write is in progress. */
  async idle(): Promise<void> {
    await this.#tail.catch(() => {});
  }
}
