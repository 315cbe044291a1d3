/**
 * A sticky store that appends every saved record as one line of a JSON-lines journal and loads
 * the last line that parses. An append is one small write, so a crash mid-write costs at most that
 * one line (the one before it is loaded instead); the journal is compacted to its last line once
 * it holds `maxLines`, through a temp file and a rename, so it never grows without bound.
 *
 * @module
 */
import type { EventSink, StickyRecord, StickyStore } from "@p2proxy/p2proxy";
import { emptyStickyRecord } from "@p2proxy/p2proxy";
import { z } from "zod";

/** One journal line: a whole sticky record (the format of `StickyRecord`). */
const StickyLine = z.object({
  version: z.literal(1),
  servers: z.record(
    z.string().regex(/^\d{1,5}$/),
    z.object({
      fingerprint: z.string(),
      peers: z.array(z.object({
        peer_id: z.string(),
        address: z.string().nullable(),
        updated_at: z.number(),
      })),
    }),
  ),
});

/** How {@link JsonlStickyStore} behaves. */
export interface JsonlStickyStoreOptions {
  /** Compact the journal to one line once it holds this many (at least 1). */
  readonly maxLines: number;
  /** Where a journal it had to skip lines of is reported, when the role has event sinks. */
  readonly events?: EventSink;
}

/**
 * The store. `load` and `save` run one at a time, in call order, so the last of several
 * concurrent saves is the one a later load sees.
 *
 * @example
 * ```ts
 * const store = new JsonlStickyStore("state/sticky.jsonl", { maxLines: 100 });
 * await store.save(record);
 * await store.load(); // record
 * ```
 */
export class JsonlStickyStore implements StickyStore {
  readonly #path: string;
  readonly #options: JsonlStickyStoreOptions;
  /** Lines in the journal; unknown until the first load or append counts them. */
  #lines: number | undefined;
  /** The tail of the queue every load and save waits its turn on. */
  #queue: Promise<unknown> = Promise.resolve();

  /** A store journaling to `path`. */
  constructor(path: string, options: JsonlStickyStoreOptions) {
    this.#path = path;
    this.#options = options;
  }

  /** The last complete record in the journal; an empty record when there is none. */
  load(): Promise<StickyRecord> {
    return this.#enqueue(() => this.#load());
  }

  /** Appends `record` (copied now: later changes to it are not saved); never rejects. */
  save(record: StickyRecord): Promise<void> {
    const line = `${JSON.stringify(record)}\n`;
    return this.#enqueue(async () => {
      try {
        await this.#append(line);
      } catch (error) {
        // The port says a failed save is not fatal: say so where it is decided, and carry on.
        this.#report(`Could not save the sticky pools to ${this.#path}: ${error}.`);
      }
    });
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => {});
    return run;
  }

  async #load(): Promise<StickyRecord> {
    const text = await readOptional(this.#path);
    const lines = text.split("\n").filter((line) => line.trim() !== "");
    this.#lines = lines.length;
    for (let index = lines.length - 1; index >= 0; index--) {
      const record = parseLine(lines[index]!);
      if (record === undefined) continue;
      const skipped = lines.length - 1 - index;
      if (skipped > 0) {
        this.#report(`Skipped ${skipped} unreadable line(s) at the end of ${this.#path}.`);
      }
      return record;
    }
    if (lines.length > 0) this.#report(`No readable record in ${this.#path}: starting empty.`);
    return emptyStickyRecord();
  }

  async #append(line: string): Promise<void> {
    this.#lines ??= (await readOptional(this.#path)).split("\n").filter((l) => l !== "").length;
    if (this.#lines >= this.#options.maxLines) {
      const temp = `${this.#path}.${crypto.randomUUID()}.tmp`;
      await Deno.writeTextFile(temp, line, { mode: 0o600 });
      await Deno.rename(temp, this.#path);
      this.#lines = 1;
      return;
    }
    await Deno.writeTextFile(this.#path, line, { append: true, create: true, mode: 0o600 });
    this.#lines++;
  }

  #report(message: string): void {
    this.#options.events?.emit({ type: "error", message });
  }
}

function parseLine(line: string): StickyRecord | undefined {
  try {
    const parsed = StickyLine.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

async function readOptional(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "";
    throw error;
  }
}
