/**
 * Serialised, coalescing writes: one write runs at a time, and while it runs
 * only the newest queued value is kept. Concurrent saves can then never
 * interleave on the medium, and the last save always lands last.
 *
 * @module
 */

/**
 * Runs `write` for values one at a time. A value queued while another write
 * runs replaces any older queued value, whose callers then wait for the newer
 * write instead: every caller's promise settles once a write of its value or a
 * newer one has finished.
 *
 * @example
 * ```ts
 * const writer = new LatestWriter<string>((text) => Deno.writeTextFile("x.json", text), console.error);
 * await Promise.all([writer.write("a"), writer.write("b"), writer.write("c")]); // writes "a", then "c"
 * ```
 */
export class LatestWriter<T> {
  readonly #write: (value: T) => Promise<void>;
  readonly #onError: (error: unknown) => void;
  #tail: Promise<void> = Promise.resolve();
  #queued: { value: T; readonly done: Promise<void> } | undefined;

  /**
   * @param write performs one write; it should handle its own failures.
   * @param onError receives anything `write` throws anyway; the queue carries on.
   */
  constructor(write: (value: T) => Promise<void>, onError: (error: unknown) => void) {
    this.#write = write;
    this.#onError = onError;
  }

  /** Queues `value`; resolves (never rejects) when it, or a newer value, is written. */
  write(value: T): Promise<void> {
    if (this.#queued) {
      this.#queued.value = value;
      return this.#queued.done;
    }
    const done: Promise<void> = this.#tail.then(async () => {
      // Dequeue as the write starts, so values arriving during it queue anew.
      if (this.#queued === slot) this.#queued = undefined;
      try {
        await this.#write(slot.value);
      } catch (error) {
        this.#onError(error);
      }
    });
    const slot = { value, done };
    this.#queued = slot;
    this.#tail = done;
    return done;
  }

  /** Resolves once every write queued so far has finished. */
  idle(): Promise<void> {
    return this.#tail;
  }
}
