/**
 * A pull reader over a connection or a stream that keeps what a parser did not use, so a door
 * can read one message head, then a body, then the next head, from the same bytes.
 *
 * @module
 */

/** What the reader pulls from: the next chunk, or null at the end. */
export type Pull = () => Promise<Uint8Array | null>;

/** Outcome of {@link ByteReader.parse}: the parser's answer, or the end of the bytes. */
export type ReadOutcome<R> =
  | Exclude<R, { readonly kind: "need-more" }>
  | { readonly kind: "closed"; readonly partial: boolean };

/**
 * Buffers what was pulled but not used yet.
 *
 * @example
 * ```ts
 * const reader = new ByteReader(() => stream.read());
 * const head = await reader.parse(parseResponseHead);
 * ```
 */
export class ByteReader {
  #pending: Uint8Array = new Uint8Array(0);
  readonly #pull: Pull;

  /** A reader over `pull`. */
  constructor(pull: Pull) {
    this.#pull = pull;
  }

  /** A reader over something with `read(buffer)` (a client connection), `size` bytes a pull. */
  static ofConn(
    conn: { read(buffer: Uint8Array): Promise<number | null> },
    size = 16 * 1024,
  ): ByteReader {
    return new ByteReader(async () => {
      const buffer = new Uint8Array(size);
      const n = await conn.read(buffer);
      return n === null ? null : buffer.subarray(0, n);
    });
  }

  /**
   * Runs `parse` over the pending bytes, pulling more while it answers `need-more`; the parser
   * bounds how much that can be (it answers an error past its limit).
   */
  async parse<R extends { readonly kind: string }>(
    parse: (bytes: Uint8Array) => R,
  ): Promise<ReadOutcome<R>> {
    while (true) {
      if (this.#pending.byteLength > 0) {
        const result = parse(this.#pending);
        if (result.kind !== "need-more") {
          if (result.kind === "ok") {
            const consumed = (result as unknown as { consumed: number }).consumed;
            this.#pending = this.#pending.slice(consumed);
          }
          return result as Exclude<R, { readonly kind: "need-more" }>;
        }
      }
      const chunk = await this.#pull();
      if (chunk === null) return { kind: "closed", partial: this.#pending.byteLength > 0 };
      this.#append(chunk);
    }
  }

  /** The pending bytes if any, else the next chunk; null at the end. */
  async chunk(): Promise<Uint8Array | null> {
    if (this.#pending.byteLength > 0) return this.take();
    return await this.#pull();
  }

  /** Gives back bytes read past the end of a message. */
  unread(bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    const merged = new Uint8Array(bytes.byteLength + this.#pending.byteLength);
    merged.set(bytes);
    merged.set(this.#pending, bytes.byteLength);
    this.#pending = merged;
  }

  /** Takes every pending byte. */
  take(): Uint8Array {
    const pending = this.#pending;
    this.#pending = new Uint8Array(0);
    return pending;
  }

  #append(chunk: Uint8Array): void {
    if (this.#pending.byteLength === 0) {
      this.#pending = chunk.slice();
      return;
    }
    const merged = new Uint8Array(this.#pending.byteLength + chunk.byteLength);
    merged.set(this.#pending);
    merged.set(chunk, this.#pending.byteLength);
    this.#pending = merged;
  }
}
