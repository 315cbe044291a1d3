/**
 * The framing of bytes on a QUIC stream (docs/wire-protocols.md#quic): each write is a 4-byte
 * big-endian length and that many bytes; a zero length ends the stream cleanly, and the largest
 * length (`0xffffffff`) is a nudge without payload, which the decoder skips.
 *
 * Why frame at all: Deno's QUIC cannot reset a stream — dropping or aborting a send stream
 * finishes it, so the peer reads a plain end of stream. A proxy must not turn an exit's failed
 * download into a clean-looking end, so the end is said explicitly, and a stream that stops
 * without it was reset.
 *
 * Pure: the decoder takes chunks as they arrive and hands back the payload as views into them
 * (no copies), which {@link DataFrameDecoder.next} yields one at a time.
 *
 * @example
 * ```ts
 * const decoder = new DataFrameDecoder();
 * decoder.push(chunk);
 * for (let item = decoder.next(); item !== undefined; item = decoder.next()) {
 *   if (item === END) break; // clean end
 *   deliver(item);
 * }
 * ```
 *
 * @module
 */
import { P2proxyError } from "../../core/errors.ts";
import { MAX_DATA_FRAME_BYTES } from "./constants.ts";

/** Bytes of a frame header. */
export const HEADER_BYTES = 4;

/** What a zero-length frame decodes to: the sender closed its side cleanly. */
export const END: unique symbol = Symbol("end of stream");

/** Why a byte sequence is not valid framing. */
export type DataFrameErrorCode = "frame-too-large";

/** Invalid framing: the stream is reset. */
export class DataFrameError extends P2proxyError<DataFrameErrorCode> {}

/** The header of a data frame of `length` bytes (0: the end marker). */
export function frameHeader(length: number): Uint8Array {
  const header = new Uint8Array(HEADER_BYTES);
  new DataView(header.buffer).setUint32(0, length);
  return header;
}

/** The end marker: a frame of length 0. */
export const END_FRAME: Uint8Array = frameHeader(0);

/** The header length of a nudge: a frame without payload that decoders skip. */
export const NUDGE_LENGTH = 0xffff_ffff;

/**
 * A nudge (docs/wire-protocols.md#tls): a proxy sends one on a TLS connection after reading a
 * burst of the exit's bytes that ended on a frame boundary, so that its TCP acknowledgement goes
 * out at once. The exit's accepted TLS socket cannot turn off Nagle's algorithm, and would hold
 * its next small write (often the end marker) until the proxy's delayed ACK, up to 40 ms.
 */
export const NUDGE_FRAME: Uint8Array = frameHeader(NUDGE_LENGTH);

/**
 * `payload` framed as one buffer (header + copy). For small writes, where a copy is cheaper
 * than a second write.
 */
export function framed(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + payload.byteLength);
  new DataView(out.buffer).setUint32(0, payload.byteLength);
  out.set(payload, HEADER_BYTES);
  return out;
}

/**
 * `bytes` without the nudges at its start (a view). On a TLS connection between streams, what
 * arrived behind a stream's end marker may be only the proxy's nudges: no next stream yet.
 */
export function skipNudges(bytes: Uint8Array): Uint8Array {
  let at = 0;
  while (
    bytes.byteLength - at >= HEADER_BYTES &&
    new DataView(bytes.buffer, bytes.byteOffset + at, HEADER_BYTES).getUint32(0) === NUDGE_LENGTH
  ) {
    at += HEADER_BYTES;
  }
  return at === 0 ? bytes : bytes.subarray(at);
}

/** Decodes data frames from chunks; payload comes out as views of the chunks pushed. */
export class DataFrameDecoder {
  readonly #maxFrameBytes: number;
  /** Chunks not consumed yet, and how far into the first one we are. */
  readonly #chunks: Uint8Array[] = [];
  #offset = 0;
  /** Payload bytes left in the current frame; 0 between frames. */
  #remaining = 0;
  #ended = false;
  /** Chunks (and parts) pushed behind the end marker. */
  #rest: Uint8Array[] = [];

  /** A decoder refusing frames over `maxFrameBytes` (default {@link MAX_DATA_FRAME_BYTES}). */
  constructor(maxFrameBytes: number = MAX_DATA_FRAME_BYTES) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** True once the end marker was decoded. */
  get ended(): boolean {
    return this.#ended;
  }

  /** True when the bytes pushed so far stop inside a frame or its header (a reset, if it ends). */
  get midFrame(): boolean {
    return this.#remaining > 0 || this.#buffered() > 0;
  }

  /** Adds a chunk as received. The decoder keeps a view of it until its bytes are handed out. */
  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    // Past the end marker, bytes are the next stream's: kept for `takeRest`, not decoded.
    if (this.#ended) this.#rest.push(chunk);
    else this.#chunks.push(chunk);
  }

  /**
   * The next piece of payload (a view, at most `maxBytes` long), {@link END} once the end marker
   * is read, or undefined when more bytes are needed. Bytes after the end marker are kept for
   * {@link DataFrameDecoder.takeRest}.
   *
   * @throws {DataFrameError} `frame-too-large` for a declared length over the limit.
   */
  next(maxBytes: number = Infinity): Uint8Array | typeof END | undefined {
    while (true) {
      if (this.#ended) return END;
      const first = this.#chunks[0];
      if (first === undefined) return undefined;
      if (this.#remaining > 0) {
        const available = first.byteLength - this.#offset;
        const take = Math.min(available, this.#remaining, maxBytes);
        const piece = first.subarray(this.#offset, this.#offset + take);
        this.#remaining -= take;
        this.#advance(take);
        return piece;
      }
      const length = this.#readHeader();
      if (length === undefined) return undefined;
      if (length === 0) {
        this.#ended = true;
        // What follows the end marker is not this stream's: kept for `takeRest`.
        this.#rest = this.#chunks.splice(0);
        if (this.#rest.length > 0) this.#rest[0] = this.#rest[0]!.subarray(this.#offset);
        this.#offset = 0;
        return END;
      }
      if (length === NUDGE_LENGTH) continue;
      if (length > this.#maxFrameBytes) {
        throw new DataFrameError(
          "frame-too-large",
          `A data frame declares ${length} bytes; the limit is ${this.#maxFrameBytes}.`,
        );
      }
      this.#remaining = length;
    }
  }

  /**
   * The bytes pushed behind the end marker (a copy; empty before the end marker or when none),
   * handed out once: on a connection that carries one stream after another, the next stream's.
   */
  takeRest(): Uint8Array {
    const parts = this.#rest;
    this.#rest = [];
    if (parts.length === 1) return parts[0]!.slice();
    const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.byteLength;
    }
    return out;
  }

  /** True when the decoder holds bytes of a pushed chunk it has not handed out yet. */
  get holdsBytes(): boolean {
    return this.#chunks.length > 0;
  }

  /** Bytes held and not handed out. */
  #buffered(): number {
    let total = -this.#offset;
    for (const chunk of this.#chunks) total += chunk.byteLength;
    return total;
  }

  /** Consumes a 4-byte header when all of it is here; undefined when it is not. */
  #readHeader(): number | undefined {
    const first = this.#chunks[0]!;
    if (first.byteLength - this.#offset >= HEADER_BYTES) {
      const view = new DataView(first.buffer, first.byteOffset + this.#offset, HEADER_BYTES);
      const length = view.getUint32(0);
      this.#advance(HEADER_BYTES);
      return length;
    }
    if (this.#buffered() < HEADER_BYTES) return undefined;
    // A header split across chunks: gather its bytes one by one.
    let length = 0;
    for (let i = 0; i < HEADER_BYTES; i++) {
      const chunk = this.#chunks[0]!;
      length = length * 256 + chunk[this.#offset]!;
      this.#advance(1);
    }
    return length;
  }

  /** Moves past `count` bytes of the first chunk. */
  #advance(count: number): void {
    this.#offset += count;
    if (this.#offset >= this.#chunks[0]!.byteLength) {
      this.#chunks.shift();
      this.#offset = 0;
    }
  }
}
