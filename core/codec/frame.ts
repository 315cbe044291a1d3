/**
 * Length-prefixed frames for the protobuf messages on libp2p streams
 * (docs/wire-protocols.md#framing): an unsigned LEB128 varint (as protobuf and multiformats
 * unsigned-varint) with the payload length, then the payload.
 *
 * Pure: no Deno API. The connect protocol sends one frame each way and then
 * switches to raw bytes, so the decoder hands back whatever follows the
 * frames it returned ({@link FrameDecoder.remainder}); nothing is lost.
 *
 * This is protobuf's size-delimited format. Encoding is `@bufbuild/protobuf`'s (`BinaryWriter`,
 * what its `sizeDelimitedEncode` does after serialising a message). Decoding is not, because its
 * size-delimited readers do not fit a stream that carries hostile bytes and then raw data:
 * - `sizeDelimitedPeek` reads the size as a uint32 and keeps only the low 32 bits of a longer
 *   varint (a declared 2^32 + 3 reads as 3), accepts non-minimal and 10-byte prefixes, answers
 *   only once the whole prefix is in, and throws a plain `Error`. Reading the prefix here lets an
 *   oversized length fail as soon as its bytes pass the limit, with a `FrameError`.
 * - `sizeDelimitedDecodeStream` decodes messages until the source ends: it drops the bytes after
 *   the first frame when the caller stops (the connect protocol's raw relay starts there), closes
 *   the caller's iterator, takes no abort signal and throws plain `Error`s.
 * `frame_test.ts` pins the first point, so a library that starts refusing such prefixes is noticed.
 *
 * @example
 * ```ts
 * const decoder = new FrameDecoder();
 * for (const chunk of chunks) {
 *   for (const frame of decoder.push(chunk)) handle(frame);
 * }
 * ```
 *
 * @module
 */
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { P2proxyError } from "../errors.ts";

/**
 * Largest payload of one frame: 64 KiB (docs/wire-protocols.md#framing); larger resets the stream.
 */
export const MAX_FRAME_BYTES: number = 65536;

/** Longest varint accepted: the multiformats unsigned-varint limit (9 bytes, 63 bits). */
export const MAX_VARINT_BYTES: number = 9;

/** Why a frame was rejected. */
export type FrameErrorCode =
  /** The declared (or given) payload length exceeds the limit. */
  | "too-large"
  /** The length prefix is longer than 9 bytes or not minimally encoded. */
  | "bad-varint"
  /** The source ended before a whole frame arrived. */
  | "truncated"
  /** The caller's signal aborted the read; `cause` holds its reason. */
  | "aborted"
  /** A decoder option is out of range. */
  | "bad-option";

/** A frame that cannot be encoded or decoded. */
export class FrameError extends P2proxyError<FrameErrorCode> {}

/** Options of a {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest accepted payload in bytes; default {@link MAX_FRAME_BYTES}. */
  readonly maxFrameBytes?: number;
}

const CONTINUATION_BIT = 0x80;
const PAYLOAD_BITS = 0x7f;

/** Frames `payload` (at most {@link MAX_FRAME_BYTES}): varint length, then the bytes. */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  if (payload.length > MAX_FRAME_BYTES) {
    throw new FrameError(
      "too-large",
      `Frame payload is ${payload.length} bytes; the limit is ${MAX_FRAME_BYTES} bytes. ` +
        "Send less per message.",
    );
  }
  return new BinaryWriter().bytes(payload).finish();
}

/** A parsed length prefix. */
interface FrameHeader {
  readonly headerBytes: number;
  readonly payloadBytes: number;
}

/**
 * Incremental frame decoder. Feed it chunks as they arrive; it returns each
 * complete frame once and keeps the bytes after the last one. A declared
 * length over the limit fails as soon as the prefix is read, before any of
 * the body is waited for. After an error the decoder stays failed.
 */
export class FrameDecoder {
  readonly #maxFrameBytes: number;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #failure: FrameError | undefined;

  /** Creates a decoder; throws `bad-option` for a limit that is not a non-negative integer. */
  constructor(options: FrameDecoderOptions = {}) {
    const max = options.maxFrameBytes ?? MAX_FRAME_BYTES;
    if (!Number.isSafeInteger(max) || max < 0) {
      throw new FrameError(
        "bad-option",
        `maxFrameBytes ${max} is not a non-negative integer; pass a byte count such as 65536.`,
      );
    }
    this.#maxFrameBytes = max;
  }

  /** Bytes held that do not form a complete frame yet. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** Adds bytes without decoding; pair with {@link nextFrame} to take one frame at a time. */
  append(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    // Copied: the caller may reuse its buffer once we return.
    this.#chunks.push(chunk.slice());
    this.#buffered += chunk.length;
  }

  /** The next complete frame's payload, or undefined until one has fully arrived. */
  nextFrame(): Uint8Array | undefined {
    if (this.#failure) throw this.#failure;
    let header: FrameHeader | undefined;
    try {
      header = this.#readHeader();
    } catch (error) {
      if (error instanceof FrameError) this.#failure = error;
      throw error;
    }
    if (!header || this.#buffered < header.headerBytes + header.payloadBytes) return undefined;
    this.#take(header.headerBytes);
    return this.#take(header.payloadBytes);
  }

  /** Adds `chunk` and returns every frame completed so far, in order. */
  push(chunk: Uint8Array): Uint8Array[] {
    this.append(chunk);
    const frames: Uint8Array[] = [];
    for (let frame = this.nextFrame(); frame; frame = this.nextFrame()) frames.push(frame);
    return frames;
  }

  /** A copy of the bytes after the last frame returned (a partial frame, or raw data). */
  remainder(): Uint8Array {
    const out = new Uint8Array(this.#buffered);
    let offset = 0;
    for (const chunk of this.#chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }

  /** The byte at `index` of the buffered data (the caller checks it is in range). */
  #byteAt(index: number): number {
    let rest = index;
    for (const chunk of this.#chunks) {
      if (rest < chunk.length) return chunk[rest]!;
      rest -= chunk.length;
    }
    throw new RangeError(`Byte ${index} is beyond the ${this.#buffered} buffered bytes.`);
  }

  /**
   * Reads the varint prefix without consuming it; undefined while it is incomplete. Not
   * `sizeDelimitedPeek` (see the module doc): this one refuses a length past the limit from
   * its first bytes and never truncates one.
   */
  #readHeader(): FrameHeader | undefined {
    let value = 0;
    let scale = 1;
    for (let index = 0; index < MAX_VARINT_BYTES; index++) {
      if (index >= this.#buffered) return undefined;
      const byte = this.#byteAt(index);
      value += (byte & PAYLOAD_BITS) * scale;
      // Checked per byte: the sum only grows, so the body is never waited for.
      if (value > this.#maxFrameBytes) throw this.#tooLarge(value, byte);
      if ((byte & CONTINUATION_BIT) === 0) {
        if (byte === 0 && index > 0) {
          throw new FrameError(
            "bad-varint",
            `Frame length prefix is not minimally encoded (${index + 1} bytes ending in 0x00); ` +
              "the peer's encoder is broken.",
          );
        }
        return { headerBytes: index + 1, payloadBytes: value };
      }
      scale *= CONTINUATION_BIT;
    }
    throw new FrameError(
      "bad-varint",
      `Frame length prefix is longer than ${MAX_VARINT_BYTES} bytes; the peer is not sending frames.`,
    );
  }

  #tooLarge(atLeast: number, byte: number): FrameError {
    const more = (byte & CONTINUATION_BIT) !== 0 ? "at least " : "";
    return new FrameError(
      "too-large",
      `Frame declares ${more}${atLeast} bytes; the limit is ${this.#maxFrameBytes} bytes. ` +
        "The stream is reset.",
    );
  }

  /** Removes and returns the first `count` buffered bytes. */
  #take(count: number): Uint8Array {
    const out = new Uint8Array(count);
    let filled = 0;
    let used = 0;
    while (filled < count) {
      const chunk = this.#chunks[used]!;
      const needed = count - filled;
      if (chunk.length <= needed) {
        out.set(chunk, filled);
        filled += chunk.length;
        used++;
      } else {
        out.set(chunk.subarray(0, needed), filled);
        this.#chunks[used] = chunk.subarray(needed);
        filled = count;
      }
    }
    // One splice instead of a shift per chunk: a frame may arrive in thousands of tiny chunks.
    this.#chunks.splice(0, used);
    this.#buffered -= count;
    return out;
  }
}

/** The first frame of a source and the bytes that followed it. */
export interface FrameAndRest {
  /** The payload of the first frame. */
  readonly frame: Uint8Array;
  /** Bytes received after the frame (possibly empty): the start of what comes next. */
  readonly rest: Uint8Array;
}

function abortedError(signal: AbortSignal): FrameError {
  return new FrameError(
    "aborted",
    `Reading a frame was aborted: ${String(signal.reason)}.`,
    { cause: signal.reason },
  );
}

/** Resolves with the iterator's next result, or rejects with a FrameError when `signal` aborts. */
function nextOrAbort<T>(
  source: AsyncIterator<T>,
  signal: AbortSignal | undefined,
): Promise<IteratorResult<T>> {
  const next = source.next();
  if (!signal) return next;
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(abortedError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    next.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * Reads exactly one frame from an async iterator of chunks and returns it
 * with whatever bytes arrived after it. The iterator is not closed, so the
 * caller keeps reading raw bytes from it (prepending `rest`).
 *
 * Throws {@link FrameError}: `too-large` / `bad-varint` from the prefix,
 * `truncated` when the source ends first, `aborted` when `signal` fires
 * (the pending read is left to the caller, who owns the stream).
 */
export async function readFrame(
  source: AsyncIterator<Uint8Array>,
  signal?: AbortSignal,
  options: FrameDecoderOptions = {},
): Promise<FrameAndRest> {
  const decoder = new FrameDecoder(options);
  while (true) {
    if (signal?.aborted) throw abortedError(signal);
    const result = await nextOrAbort(source, signal);
    if (result.done) {
      throw new FrameError(
        "truncated",
        `The stream ended after ${decoder.bufferedBytes} bytes, before a whole frame arrived; ` +
          "the peer closed early or does not speak this protocol.",
      );
    }
    decoder.append(result.value);
    const frame = decoder.nextFrame();
    if (frame) return { frame, rest: decoder.remainder() };
  }
}
