/**
 * The data plane's hot path: full-duplex copying between a TCP connection
 * and a stream, with half-close (docs/proxy-behaviour.md#relay). The TCP side's EOF closes only
 * the stream's write side and the other direction keeps flowing; the
 * stream's EOF closes the socket's write side; the relay ends when both
 * directions are done, or on an error in either, which resets both.
 * Memory is bounded by backpressure: each direction awaits its write before
 * reading more.
 *
 * @module
 */
import { P2proxyError } from "../core/errors.ts";
import type { DuplexStream } from "../core/ports/stream_opener.ts";
import { closeQuietly, type TcpConn, writeAll } from "./tcp_conn.ts";

/**
 * Largest socket read. Large reads mean fewer syscalls and fewer yamux
 * frames on a bulk transfer; the buffer is fresh per read unless the stream says its writes
 * copy (`writeCopies`: QUIC and TLS), because yamux keeps a reference to what it was given
 * until it is sent.
 */
export const RELAY_READ_BYTES = 256 * 1024;

/**
 * Smallest (and first) socket read. Reads grow ×2 while they come back full
 * and shrink when they come back under a quarter full, so an idle or
 * interactive session holds 16 KiB, not 256 KiB (bench: 1000 sessions,
 * peak RSS 636 → 444 MB, same bulk CPU).
 */
export const RELAY_MIN_READ_BYTES = 16 * 1024;

/**
 * What all relays of this process may grow their reads to together, per direction: each relay's
 * reads are capped at its share (this over the relays running, at least
 * {@link RELAY_MIN_READ_BYTES}). A few bulk sessions still read 256 KiB at a time; with 1000
 * sessions each reads 16 KiB, since every session's read is held in memory until the stream
 * takes it — with yamux that is until the connection drains, when every session sends its next
 * read at once (measured in `scripts/bench/many_sessions.ts`).
 */
export const RELAY_READ_BUDGET_BYTES = 16 * 1024 * 1024;

/** Relays running in this process (for {@link RELAY_READ_BUDGET_BYTES}). */
let runningRelays = 0;

/** The largest read one relay may grow to now: its share of the budget, as a power of two. */
export function relayReadCap(relays: number = runningRelays): number {
  let cap = RELAY_READ_BYTES;
  while (cap > RELAY_MIN_READ_BYTES && cap * relays > RELAY_READ_BUDGET_BYTES) cap /= 2;
  return cap;
}

/** How often the idle timer looks at the last activity. */
const IDLE_CHECK_FRACTION = 4;

/** Counts and outcome of one relay. */
export interface RelayResult {
  /** Bytes read from the TCP side and written to the stream. */
  readonly bytesFromTcp: number;
  /** Bytes read from the stream and written to the TCP side. */
  readonly bytesFromStream: number;
  /** Set when the relay ended on an error (both sides were reset). */
  readonly error?: Error;
}

/** Options of one relay. */
export interface RelayOptions {
  /** Ends the relay after this long without bytes in either direction; 0 = never. */
  readonly idleTimeoutMs?: number;
  /** Called for every chunk (cheap counters only: this is the hot path). */
  readonly onBytes?: (direction: "fromTcp" | "fromStream", bytes: number) => void;
  /** Aborting resets both sides (shutdown after the drain grace). */
  readonly signal?: AbortSignal;
}

/** The code of the error a relay ends with when it was idle for longer than its timeout. */
export const IDLE_TIMEOUT_CODE = "idle-timeout";

/**
 * The next read size after a read of `size` bytes that returned `n`: ×2 when full, ÷2 when under
 * a quarter, never above this relay's share of the budget (`cap`).
 */
export function nextReadBytes(size: number, n: number, cap: number = relayReadCap()): number {
  if (size > cap) return cap;
  if (n === size) return Math.min(size * 2, cap);
  if (n < size / 4) return Math.max(size / 2, RELAY_MIN_READ_BYTES);
  return size;
}

/** Relays until both directions end; never throws. Closes `tcp` and ends `stream`. */
export async function relay(
  tcp: TcpConn,
  stream: DuplexStream,
  options: RelayOptions = {},
): Promise<RelayResult> {
  let bytesFromTcp = 0;
  let bytesFromStream = 0;
  let lastActivity = Date.now();
  let failure: Error | undefined;
  const onBytes = options.onBytes;

  const fail = (error: unknown) => {
    if (failure) return;
    failure = error instanceof Error ? error : new Error(String(error));
    stream.abort(failure);
    closeQuietly(tcp);
  };

  const idleTimeoutMs = options.idleTimeoutMs ?? 0;
  const idleTimer = idleTimeoutMs > 0
    ? setInterval(() => {
      if (Date.now() - lastActivity >= idleTimeoutMs) {
        fail(new P2proxyError(IDLE_TIMEOUT_CODE, `No bytes moved for ${idleTimeoutMs} ms.`));
      }
    }, Math.max(50, Math.floor(idleTimeoutMs / IDLE_CHECK_FRACTION)))
    : undefined;
  const onAbort = () => fail(options.signal?.reason ?? new Error("The relay was cancelled."));
  runningRelays++;
  options.signal?.addEventListener("abort", onAbort, { once: true });

  const tcpToStream = async () => {
    let readBytes = RELAY_MIN_READ_BYTES;
    // A stream that copies what it is given lets one buffer serve every read.
    const reuse = stream.writeCopies === true;
    let buffer: Uint8Array | undefined;
    while (failure === undefined) {
      if (!reuse || buffer?.byteLength !== readBytes) buffer = new Uint8Array(readBytes);
      const n = await tcp.read(buffer);
      if (n === null) break;
      readBytes = nextReadBytes(readBytes, n);
      lastActivity = Date.now();
      bytesFromTcp += n;
      onBytes?.("fromTcp", n);
      await stream.write(buffer.subarray(0, n));
    }
    if (failure === undefined) await stream.closeWrite();
  };

  const streamToTcp = async () => {
    if (stream.readInto) {
      // One buffer, reused: what arrived in pieces leaves in one socket write, no allocation.
      let buffer = new Uint8Array(RELAY_MIN_READ_BYTES);
      while (failure === undefined) {
        const n = await stream.readInto(buffer);
        if (n === null) break;
        lastActivity = Date.now();
        bytesFromStream += n;
        onBytes?.("fromStream", n);
        await writeAll(tcp, n === buffer.byteLength ? buffer : buffer.subarray(0, n));
        const size = nextReadBytes(buffer.byteLength, n);
        if (size !== buffer.byteLength) buffer = new Uint8Array(size);
      }
    } else {
      while (failure === undefined) {
        const chunk = await stream.read();
        if (chunk === null) break;
        lastActivity = Date.now();
        bytesFromStream += chunk.byteLength;
        onBytes?.("fromStream", chunk.byteLength);
        await writeAll(tcp, chunk);
      }
    }
    if (failure === undefined) await tcp.closeWrite();
  };

  try {
    await Promise.all([tcpToStream().catch(fail), streamToTcp().catch(fail)]);
  } finally {
    runningRelays--;
    if (idleTimer !== undefined) clearInterval(idleTimer);
    options.signal?.removeEventListener("abort", onAbort);
    closeQuietly(tcp);
  }
  return failure
    ? { bytesFromTcp, bytesFromStream, error: failure }
    : { bytesFromTcp, bytesFromStream };
}
