/**
 * The reading half that both carriers' streams share (quic_stream.ts, tls_stream.ts): network
 * reads go into one receive buffer, reused while nobody holds a view of it, and the data frames
 * (data_frames.ts) are decoded out of it. A carrier supplies only the read itself.
 *
 * Why one receive buffer: Deno's default QUIC reader allocates a fresh 64 KiB buffer for every
 * read, however few bytes arrived, and with many streams each read brings one packet's worth —
 * gigabytes of zeroed allocations for 200 MiB and the garbage collections they cause. `nextInto`
 * copies out of the buffer, so the relay's reads allocate nothing; `next` hands out views, and
 * the buffer is then replaced on the next read.
 *
 * @module
 */
import { MAX_RECEIVE_BUFFER_BYTES, MIN_RECEIVE_BUFFER_BYTES } from "./constants.ts";
import { DataFrameDecoder, END } from "./data_frames.ts";

/**
 * One network read into `buffer`: the bytes read, as a view of the buffer's memory (a BYOB read
 * may have moved that memory into a new view), or null when the peer finished its side.
 */
export type FillBuffer = (buffer: Uint8Array) => Promise<Uint8Array | null>;

/** Decodes a stream's data frames from the reads of one carrier. */
export class FrameReader {
  readonly #decoder = new DataFrameDecoder();
  readonly #fill: FillBuffer;
  readonly #maxBufferBytes: () => number;
  /** Where the next network read lands; undefined while a read holds it. */
  #buffer: Uint8Array | undefined;
  /** Size of the next receive buffer: ×2 after a full read, ÷2 after one under a quarter full. */
  #bufferBytes = MIN_RECEIVE_BUFFER_BYTES;
  /** A view of the buffer was handed out by `next`: the next read needs a new one. */
  #bufferShared = false;

  /**
   * `early`: bytes of the stream already read (decoded before any read). `maxBufferBytes`: the
   * largest receive buffer now (default {@link MAX_RECEIVE_BUFFER_BYTES}).
   */
  constructor(fill: FillBuffer, early?: Uint8Array, maxBufferBytes?: () => number) {
    this.#fill = fill;
    this.#maxBufferBytes = maxBufferBytes ?? (() => MAX_RECEIVE_BUFFER_BYTES);
    if (early && early.byteLength > 0) this.#decoder.push(early);
  }

  /** True when the bytes read so far stop inside a frame or its header. */
  get midFrame(): boolean {
    return this.#decoder.midFrame;
  }

  /** The bytes read behind the end marker, once (see `DataFrameDecoder.takeRest`). */
  takeRest(): Uint8Array {
    return this.#decoder.takeRest();
  }

  /**
   * The next piece of payload (a view, good until the next read) or {@link END}.
   *
   * @throws {DataFrameError} for invalid framing; the read's own error; an `Error` when the
   *   peer finished without its end marker (a reset).
   */
  async next(): Promise<Uint8Array | typeof END> {
    while (true) {
      const item = this.#decoder.next();
      if (item === END) return END;
      if (item !== undefined) {
        this.#bufferShared = true;
        return item;
      }
      await this.#receive();
    }
  }

  /**
   * Copies what is there (at least one byte, reading once if nothing is) into `target`: the
   * count, or {@link END} when the stream ended before any byte. Throws as {@link next}.
   */
  async nextInto(target: Uint8Array): Promise<number | typeof END> {
    let filled = 0;
    while (filled < target.byteLength) {
      const item = this.#decoder.next(target.byteLength - filled);
      if (item === END) {
        if (filled > 0) break;
        return END;
      }
      if (item !== undefined) {
        target.set(item, filled);
        filled += item.byteLength;
        continue;
      }
      // What arrived so far goes out now; waiting for more would delay it.
      if (filled > 0) break;
      await this.#receive();
    }
    return filled;
  }

  /** One network read into the receive buffer, pushed to the decoder. */
  async #receive(): Promise<void> {
    // The buffer is reused unless the decoder still holds part of it or `next` handed out a view.
    let buffer = this.#buffer;
    if (
      buffer === undefined || this.#bufferShared || this.#decoder.holdsBytes ||
      buffer.byteLength !== this.#bufferBytes
    ) {
      buffer = new Uint8Array(this.#bufferBytes);
    }
    this.#buffer = undefined;
    this.#bufferShared = false;
    const chunk = await this.#fill(buffer);
    if (chunk === null) {
      throw new Error("The peer reset the stream (it ended without its end marker).");
    }
    // The read may have moved the buffer's memory into the chunk: the whole of it is ours again.
    this.#buffer = new Uint8Array(chunk.buffer);
    this.#bufferBytes = nextBufferBytes(
      this.#bufferBytes,
      chunk.byteLength,
      this.#maxBufferBytes(),
    );
    this.#decoder.push(chunk);
  }
}

/** The next receive buffer size after a read of `n` bytes into `size`, at most `max`. */
function nextBufferBytes(size: number, n: number, max: number): number {
  if (n === size) return Math.min(size * 2, max);
  if (n < size / 4) return Math.max(size / 2, MIN_RECEIVE_BUFFER_BYTES);
  return size;
}
