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
 * Reads go through a BYOB reader into the receive buffer of a `FrameReader` (frame_reader.ts),
 * which decodes the frames; `readInto` copies out of it, so the relay's reads allocate nothing.
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
import { COALESCE_WRITE_BYTES, MAX_DATA_FRAME_BYTES, SEND_BURST_BYTES } from "./constants.ts";
import { END, END_FRAME, framed, frameHeader } from "./data_frames.ts";
import { FrameReader } from "./frame_reader.ts";

/** Wraps an open QUIC bidirectional stream. */
export class QuicDuplexStream implements DuplexStream {
  /** A write resolves once Deno's QUIC took the bytes. */
  readonly writeCopies = true;
  readonly #reader: ReadableStreamBYOBReader;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #frames: FrameReader;
  readonly #onClosed: (() => void) | undefined;
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
    // A BYOB read moves the buffer's memory into its result, which the frame reader takes back.
    this.#frames = new FrameReader(async (buffer) => {
      const result = await this.#reader.read(buffer);
      if (this.#error) throw this.#error;
      return result.done ? null : result.value;
    });
  }

  async read(): Promise<Uint8Array | null> {
    if (this.#error) throw this.#error;
    let item;
    try {
      item = await this.#frames.next();
    } catch (error) {
      throw this.#fail(asError(error));
    }
    return item === END ? this.#ended() : item;
  }

  async readInto(target: Uint8Array): Promise<number | null> {
    if (this.#error) throw this.#error;
    let n;
    try {
      n = await this.#frames.nextInto(target);
    } catch (error) {
      throw this.#fail(asError(error));
    }
    return n === END ? this.#ended() : n;
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
      throw this.#fail(asError(error));
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
      throw this.#fail(asError(error));
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

/** What was thrown, as an Error. */
function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** Tie-breakers of streams in the same burst: the sequence number of a stream, modulo this. */
const SEQUENCES = 4096;

/** Bursts after which a stream's priority stops falling (sendOrder stays inside an i32). */
const MAX_BURSTS = 100_000;

/** Numbers the streams of this process (their tie-breaker). */
let nextSequence = 0;
