/**
 * A QUIC bidirectional stream as the core's `DuplexStream`, with the plugin's data framing
 * (`data_frames.ts`): writes go out as frames, `closeWrite` sends the end marker and finishes
 * the send side, and a stream that finishes without the marker was reset — a read then
 * rejects. `abort` stops the peer's sending (STOP_SENDING, so its writes fail) and finishes
 * ours without the marker (so its reads fail).
 *
 * Backpressure is QUIC's flow control: a write resolves once Deno's QUIC took the bytes, which
 * waits while the peer's window is full; an unread stream stops granting window.
 *
 * Reads go through a BYOB reader into one receive buffer per stream, reused while nobody holds a
 * view of it: Deno's default reader allocates a fresh 64 KiB buffer for every read, however few
 * bytes arrived, and with many streams each read brings one packet's worth — gigabytes of zeroed
 * allocations for 200 MiB and the garbage collections they cause (bench: 200 concurrent
 * downloads, and every CONNECT). `readInto` copies out of it, so the relay's reads allocate
 * nothing; `read` hands out views and the buffer is replaced on the next read.
 *
 * Sending is scheduled in bursts ({@link SEND_BURST_BYTES}): a stream's priority (`sendOrder`)
 * drops by one step per burst it sent. Deno's QUIC round-robins streams of equal priority one
 * packet at a time, so 200 downloads arrived at the proxy as ~3 KB reads, each a socket write
 * and a client wake-up; in bursts each stream's bytes arrive together, and a new or short
 * stream still goes ahead of long ones.
 *
 * @module
 */
import type { DuplexStream } from "../../core/ports/stream_opener.ts";
import {
  COALESCE_WRITE_BYTES,
  MAX_DATA_FRAME_BYTES,
  MAX_RECEIVE_BUFFER_BYTES,
  MIN_RECEIVE_BUFFER_BYTES,
  SEND_BURST_BYTES,
} from "./constants.ts";
import { DataFrameDecoder, END, END_FRAME, framed, frameHeader } from "./data_frames.ts";

/** Wraps an open QUIC bidirectional stream. */
export class QuicDuplexStream implements DuplexStream {
  /** A write resolves once Deno's QUIC took the bytes. */
  readonly writeCopies = true;
  readonly #reader: ReadableStreamBYOBReader;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #decoder = new DataFrameDecoder();
  readonly #onClosed: (() => void) | undefined;
  /** Where the next network read lands; detached by the read and given back by its result. */
  #buffer: Uint8Array | undefined;
  /** Size of the next receive buffer: ×2 after a full read, ÷2 after one under a quarter full. */
  #bufferBytes = MIN_RECEIVE_BUFFER_BYTES;
  /** A view of the buffer was handed out by `read`: the next read needs a new one. */
  #bufferShared = false;
  #error: Error | undefined;
  #readDone = false;
  #writeDone = false;
  #closedReported = false;

  /** Bytes written so far: their count of {@link SEND_BURST_BYTES} sets the send priority. */
  #bytesWritten = 0;
  readonly #sendStream: Deno.QuicSendStream;
  readonly #sequence = nextSequence++ % SEQUENCES;

  /** `onClosed` runs once both directions are done, or the stream failed. */
  constructor(stream: Deno.QuicBidirectionalStream, onClosed?: () => void) {
    this.#sendStream = stream.writable;
    this.#reader = stream.readable.getReader({ mode: "byob" });
    this.#writer = stream.writable.getWriter();
    this.#onClosed = onClosed;
  }

  async read(): Promise<Uint8Array | null> {
    while (true) {
      const item = this.#decoded();
      if (item === END) return this.#ended();
      if (item !== undefined) {
        this.#bufferShared = true;
        return item;
      }
      await this.#receive();
    }
  }

  async readInto(target: Uint8Array): Promise<number | null> {
    let filled = 0;
    while (filled < target.byteLength) {
      const item = this.#decoded(target.byteLength - filled);
      if (item === END) {
        if (filled > 0) break;
        return this.#ended();
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

  /** The decoder's next item; a framing error fails the stream. */
  #decoded(maxBytes?: number): Uint8Array | typeof END | undefined {
    if (this.#error) throw this.#error;
    try {
      return this.#decoder.next(maxBytes);
    } catch (error) {
      throw this.#fail(error as Error);
    }
  }

  /** One network read into the receive buffer, pushed to the decoder. */
  async #receive(): Promise<void> {
    // The buffer is reused unless the decoder still holds part of it or `read` handed out a view.
    let buffer = this.#buffer;
    if (
      buffer === undefined || this.#bufferShared || this.#decoder.holdsBytes ||
      buffer.byteLength !== this.#bufferBytes
    ) {
      buffer = new Uint8Array(this.#bufferBytes);
    }
    this.#buffer = undefined;
    this.#bufferShared = false;
    let result: ReadableStreamReadResult<Uint8Array>;
    try {
      result = await this.#reader.read(buffer);
    } catch (error) {
      throw this.#fail(error instanceof Error ? error : new Error(String(error)));
    }
    if (this.#error) throw this.#error;
    if (result.done) {
      throw this.#fail(new Error("The peer reset the stream (it ended without its end marker)."));
    }
    const chunk = result.value;
    // The read moved the buffer's memory into the chunk: the whole of it is ours again.
    this.#buffer = new Uint8Array(chunk.buffer);
    this.#bufferBytes = nextBufferBytes(this.#bufferBytes, chunk.byteLength);
    this.#decoder.push(chunk);
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#error) throw this.#error;
    const burst = Math.floor(this.#bytesWritten / SEND_BURST_BYTES);
    this.#bytesWritten += chunk.byteLength;
    const next = Math.floor(this.#bytesWritten / SEND_BURST_BYTES);
    if (next !== burst) this.#setSendOrder(next);
    try {
      for (let offset = 0; offset < chunk.byteLength; offset += MAX_DATA_FRAME_BYTES) {
        const piece = chunk.subarray(offset, offset + MAX_DATA_FRAME_BYTES);
        if (piece.byteLength <= COALESCE_WRITE_BYTES) {
          await this.#writer.write(framed(piece));
        } else {
          // Queued back to back: the header's failure shows in the payload's write too.
          this.#writer.write(frameHeader(piece.byteLength)).catch(() => {});
          await this.#writer.write(piece);
        }
      }
    } catch (error) {
      throw this.#fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  async closeWrite(): Promise<void> {
    if (this.#error) throw this.#error;
    if (this.#writeDone) return;
    this.#writeDone = true;
    try {
      await this.#writer.write(END_FRAME);
      await this.#writer.close();
    } catch (error) {
      throw this.#fail(error instanceof Error ? error : new Error(String(error)));
    }
    this.#maybeClosed();
  }

  abort(reason?: Error): void {
    if (this.#error) return;
    this.#fail(reason ?? new Error("The stream was aborted."));
  }

  /**
   * The stream's priority after `bursts` bursts: fewer bursts sent first, and among equals the
   * newer stream first. Streams in their first burst keep Deno's default (0) and share turns.
   */
  #setSendOrder(bursts: number): void {
    try {
      this.#sendStream.sendOrder = -Math.min(bursts, MAX_BURSTS) * SEQUENCES + this.#sequence;
    } catch {
      // A finished stream: nothing left to schedule.
    }
  }

  /** The end marker arrived: reads end; the peer's finish is consumed in the background. */
  #ended(): null {
    if (!this.#readDone) {
      this.#readDone = true;
      // Reading on to the peer's finish lets Deno release the receive side.
      this.#reader.read(new Uint8Array(END_READ_BYTES)).catch(() => {});
      this.#maybeClosed();
    }
    return null;
  }

  /** Fails the stream (once): the peer's sending stops, ours finishes without the end marker. */
  #fail(error: Error): Error {
    if (this.#error) return this.#error;
    this.#error = error;
    this.#reader.cancel(error).catch(() => {});
    if (!this.#writeDone) {
      this.#writeDone = true;
      this.#writer.abort(error).catch(() => {});
    }
    this.#readDone = true;
    this.#maybeClosed();
    return error;
  }

  #maybeClosed(): void {
    if (this.#closedReported || !this.#readDone || !this.#writeDone) return;
    this.#closedReported = true;
    this.#onClosed?.();
  }
}

/** The buffer of the read after the end marker, which only waits for the peer's finish. */
const END_READ_BYTES = 64;

/** The next receive buffer size after a read of `n` bytes into `size`. */
function nextBufferBytes(size: number, n: number): number {
  if (n === size) return Math.min(size * 2, MAX_RECEIVE_BUFFER_BYTES);
  if (n < size / 4) return Math.max(size / 2, MIN_RECEIVE_BUFFER_BYTES);
  return size;
}

/** Tie-breakers of streams in the same burst: the sequence number of a stream, modulo this. */
const SEQUENCES = 4096;

/** Bursts after which a stream's priority stops falling (sendOrder stays inside an i32). */
const MAX_BURSTS = 100_000;

/** Numbers the streams of this process (their tie-breaker). */
let nextSequence = 0;
