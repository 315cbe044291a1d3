/**
 * One stream on a TLS connection as the core's `DuplexStream` (docs/wire-protocols.md#tls): the
 * same data framing as a QUIC stream (`data_frames.ts`) — writes go out as frames, `closeWrite`
 * sends the end marker — on a connection that carries one stream at a time. Once both ends
 * sent their end marker, the stream is *settled* and the connection is free for the next stream
 * (`onSettled(conn, rest)`, `rest` being what arrived behind the peer's end marker). `abort`, a
 * read or write error, or the connection ending inside a stream closes the connection: there is
 * no resetting one stream of a TCP connection, so a failed stream takes its connection along,
 * and the peer's read fails (a reset, not a clean end).
 *
 * Reads go into the receive buffer of a `FrameReader` (frame_reader.ts), as on QUIC, within this
 * process's share for one relay (wire/relay.ts): with 1000 sessions each keeps 16 KiB, not 256.
 *
 * @module
 */
import type { DuplexStream } from "../../core/ports/stream_opener.ts";
import { relayReadCap } from "../../wire/relay.ts";
import { MAX_DATA_FRAME_BYTES, MAX_RECEIVE_BUFFER_BYTES } from "./constants.ts";
import { END, END_FRAME, framed, frameHeader, HEADER_BYTES, NUDGE_FRAME } from "./data_frames.ts";
import { FrameReader } from "./frame_reader.ts";
import { closeQuietly } from "../../wire/tcp_conn.ts";

/**
 * How long the proxy's side waits, after the exit paused, for a write of its own to carry the
 * TCP acknowledgement before it sends a nudge (data_frames.ts): a request/response session then
 * sends none, and the exit's Nagle wait is bounded by this instead of the delayed ACK (~40 ms).
 */
export const NUDGE_DELAY_MS = 2;

/** Frames up to this size are copied behind their header and sent in one socket write. */
const TLS_COALESCE_WRITE_BYTES = 64 * 1024;

/** What the stream needs of a connection: Deno's TCP and TLS connections both fit. */
export type StreamConn = Pick<Deno.Conn, "read" | "write" | "close">;

/** Called once, when both ends sent their end marker: the connection may carry another stream. */
export type OnSettled = (conn: StreamConn, rest: Uint8Array) => void;

/** A stream on a connection it has to itself until it settles or fails. */
export class TlsDuplexStream implements DuplexStream {
  /** A write resolves once Deno's TLS took the bytes (small frames are copies anyway). */
  readonly writeCopies = true;
  readonly #conn: StreamConn;
  readonly #frames: FrameReader;
  readonly #onSettled: OnSettled | undefined;
  readonly #onFailed: (() => void) | undefined;
  #error: Error | undefined;
  #receivedEnd = false;
  #sentEnd = false;
  #done = false;
  /** Send a nudge after reads that end on a frame boundary (the proxy's side). */
  readonly #nudge: boolean;
  /** The last socket read did not fill the buffer. */
  #pausedRead = false;
  /** A nudge due unless a write goes out first. */
  #nudgeTimer: ReturnType<typeof setTimeout> | undefined;
  #wroteSinceArmed = false;
  /** Socket writes run one after another: a nudge must not land inside a frame. */
  #writes: Promise<void> = Promise.resolve();

  /**
   * `early`: bytes of this stream already read from the connection (what came behind the last
   * stream's end marker). `onSettled` gets the connection back once both ends are done;
   * `onFailed` runs when the stream failed and closed it.
   */
  constructor(
    conn: StreamConn,
    early: Uint8Array = new Uint8Array(0),
    onSettled?: OnSettled,
    onFailed?: () => void,
    nudge = false,
  ) {
    this.#conn = conn;
    this.#nudge = nudge;
    this.#onSettled = onSettled;
    this.#onFailed = onFailed;
    this.#frames = new FrameReader(
      (buffer) => this.#fill(buffer),
      early,
      () => Math.min(MAX_RECEIVE_BUFFER_BYTES, relayReadCap()),
    );
  }

  async read(): Promise<Uint8Array | null> {
    if (this.#receivedEnd) return null;
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
    if (this.#receivedEnd) return null;
    if (this.#error) throw this.#error;
    let n;
    try {
      n = await this.#frames.nextInto(target);
    } catch (error) {
      throw this.#fail(asError(error));
    }
    return n === END ? this.#ended() : n;
  }

  /** One socket read for the frame reader. */
  async #fill(buffer: Uint8Array): Promise<Uint8Array | null> {
    // Everything the exit sent so far is decoded, it paused on a frame boundary, and we wait for
    // more: unless we write anything within NUDGE_DELAY_MS (which carries the ACK), nudge. After
    // our end marker too (the exit skips nudges between streams), until the exit's end marker.
    if (this.#nudge && this.#pausedRead && !this.#receivedEnd && !this.#frames.midFrame) {
      this.#armNudge();
    }
    this.#pausedRead = false;
    const n = await this.#conn.read(buffer);
    if (this.#error) throw this.#error;
    if (n === null) return null;
    // A short read: the exit paused. Whether on a frame boundary shows once it is decoded.
    this.#pausedRead = n < buffer.byteLength;
    return buffer.subarray(0, n);
  }

  /** Runs `write` after the writes queued before it. */
  #serialized(write: () => Promise<void>): Promise<void> {
    const run = this.#writes.then(write);
    this.#writes = run.catch(() => {});
    return run;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#error) throw this.#error;
    if (this.#sentEnd) throw new Error("The stream's write side is closed.");
    try {
      for (let offset = 0; offset < chunk.byteLength; offset += MAX_DATA_FRAME_BYTES) {
        const piece = chunk.subarray(offset, offset + MAX_DATA_FRAME_BYTES);
        // One socket write per frame up to this size (see writeAndClose: Nagle on the exit side).
        if (piece.byteLength <= TLS_COALESCE_WRITE_BYTES) {
          await this.#serialized(() => this.#writeAll(framed(piece)));
        } else {
          await this.#serialized(async () => {
            await this.#writeAll(frameHeader(piece.byteLength));
            await this.#writeAll(piece);
          });
        }
      }
    } catch (error) {
      throw this.#fail(asError(error));
    }
  }

  /** Sends a nudge in {@link NUDGE_DELAY_MS} unless a write goes out before (or the stream ends). */
  #armNudge(): void {
    this.#wroteSinceArmed = false;
    if (this.#nudgeTimer !== undefined) return;
    this.#nudgeTimer = setTimeout(() => {
      this.#nudgeTimer = undefined;
      if (this.#wroteSinceArmed || this.#receivedEnd || this.#done || this.#error) return;
      this.#serialized(() => this.#writeAll(NUDGE_FRAME)).catch(() => {});
    }, NUDGE_DELAY_MS);
  }

  #disarmNudge(): void {
    if (this.#nudgeTimer === undefined) return;
    clearTimeout(this.#nudgeTimer);
    this.#nudgeTimer = undefined;
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    this.#wroteSinceArmed = true;
    for (let offset = 0; offset < bytes.byteLength;) {
      offset += await this.#conn.write(offset === 0 ? bytes : bytes.subarray(offset));
    }
  }

  /**
   * Writes `chunk` and the end marker in one socket write. The exit's side of a TLS connection
   * cannot turn off Nagle's algorithm (Deno has no `setNoDelay` on an accepted TLS connection):
   * a second small write behind unacknowledged bytes would wait for the peer's delayed ACK.
   */
  async writeAndClose(chunk: Uint8Array): Promise<void> {
    if (this.#error) throw this.#error;
    if (this.#sentEnd) throw new Error("The stream's write side is closed.");
    this.#sentEnd = true;
    const out = new Uint8Array(HEADER_BYTES + chunk.byteLength + END_FRAME.byteLength);
    out.set(frameHeader(chunk.byteLength));
    out.set(chunk, HEADER_BYTES);
    out.set(END_FRAME, HEADER_BYTES + chunk.byteLength);
    try {
      await this.#serialized(() => this.#writeAll(out));
    } catch (error) {
      throw this.#fail(asError(error));
    }
    this.#maybeSettled();
  }

  async closeWrite(): Promise<void> {
    if (this.#error) throw this.#error;
    if (this.#sentEnd) return;
    this.#sentEnd = true;
    try {
      await this.#serialized(() => this.#writeAll(END_FRAME));
    } catch (error) {
      throw this.#fail(asError(error));
    }
    this.#maybeSettled();
  }

  abort(reason?: Error): void {
    if (this.#error || this.#done) return;
    this.#fail(reason ?? new Error("The stream was aborted."));
  }

  #ended(): null {
    if (!this.#receivedEnd) {
      this.#receivedEnd = true;
      this.#maybeSettled();
    }
    return null;
  }

  /** Fails the stream (once) and closes its connection: the peer's reads and writes fail. */
  #fail(error: Error): Error {
    if (this.#error) return this.#error;
    this.#error = error;
    this.#disarmNudge();
    if (!this.#done) {
      this.#done = true;
      closeQuietly(this.#conn);
      this.#onFailed?.();
    }
    return error;
  }

  #maybeSettled(): void {
    if (this.#done || !this.#sentEnd || !this.#receivedEnd) return;
    this.#done = true;
    this.#disarmNudge();
    // The connection is no longer this stream's: later calls fail without touching it.
    this.#error = new Error("The stream has ended.");
    const rest = this.#frames.takeRest();
    const onSettled = this.#onSettled;
    if (!onSettled) return closeQuietly(this.#conn);
    // A nudge still being written must be out before the connection carries another stream.
    void this.#writes.then(() => onSettled(this.#conn, rest));
  }
}

/** What was thrown, as an Error. */
function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
