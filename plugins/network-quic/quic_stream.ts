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
 * @module
 */
import type { DuplexStream } from "../../core/ports/stream_opener.ts";
import {
  COALESCE_WRITE_BYTES,
  MAX_DATA_FRAME_BYTES,
  MAX_READ_BYTES,
  MIN_READ_BYTES,
} from "./constants.ts";
import { DataFrameDecoder, END, END_FRAME, framed, frameHeader } from "./data_frames.ts";

/** Wraps an open QUIC bidirectional stream. */
export class QuicDuplexStream implements DuplexStream {
  readonly #reader: ReadableStreamBYOBReader;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #decoder = new DataFrameDecoder();
  readonly #onClosed: (() => void) | undefined;
  #error: Error | undefined;
  #readDone = false;
  #writeDone = false;
  #closedReported = false;
  /** Size of the next read's buffer (see {@link MIN_READ_BYTES}). */
  #readBytes = MIN_READ_BYTES;

  /** `onClosed` runs once both directions are done, or the stream failed. */
  constructor(stream: Deno.QuicBidirectionalStream, onClosed?: () => void) {
    // Our own read buffers, sized to what arrives: the default reader allocates 64 KiB per read
    // however few bytes it returns, and the chunk it hands on keeps all of it alive.
    this.#reader = stream.readable.getReader({ mode: "byob" });
    this.#writer = stream.writable.getWriter();
    this.#onClosed = onClosed;
  }

  async read(): Promise<Uint8Array | null> {
    while (true) {
      if (this.#error) throw this.#error;
      let item;
      try {
        item = this.#decoder.next();
      } catch (error) {
        throw this.#fail(error as Error);
      }
      if (item === END) return this.#ended();
      if (item !== undefined) return item;
      let result: ReadableStreamReadResult<Uint8Array>;
      const size = this.#readBytes;
      try {
        result = await this.#reader.read(new Uint8Array(size));
      } catch (error) {
        throw this.#fail(error instanceof Error ? error : new Error(String(error)));
      }
      if (this.#error) throw this.#error;
      if (result.done) {
        throw this.#fail(new Error("The peer reset the stream (it ended without its end marker)."));
      }
      const n = result.value.byteLength;
      if (n === size) this.#readBytes = Math.min(size * 2, MAX_READ_BYTES);
      else if (n < size / 4) this.#readBytes = Math.max(size / 2, MIN_READ_BYTES);
      this.#decoder.push(result.value);
    }
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#error) throw this.#error;
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

  /** The end marker arrived: reads end; the peer's finish is consumed in the background. */
  #ended(): null {
    if (!this.#readDone) {
      this.#readDone = true;
      // Reading on to the peer's finish lets Deno release the receive side.
      this.#reader.read(new Uint8Array(MIN_READ_BYTES)).catch(() => {});
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
