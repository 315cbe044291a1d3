/**
 * Small helpers over the core's `DuplexStream`.
 *
 * @module
 */
import type { DuplexStream } from "../core/ports/stream_opener.ts";

/** An async iterator over a stream's chunks (for `readFrame`). Never closes the stream. */
export function chunksOf(stream: DuplexStream): AsyncIterator<Uint8Array> {
  return {
    async next(): Promise<IteratorResult<Uint8Array>> {
      const chunk = await stream.read();
      return chunk === null ? { done: true, value: undefined } : { done: false, value: chunk };
    },
  };
}

/** A stream whose first read returns `prefix` (bytes read past a frame), then reads through. */
export function withPrefix(stream: DuplexStream, prefix: Uint8Array): DuplexStream {
  if (prefix.byteLength === 0) return stream;
  let pending: Uint8Array | undefined = prefix;
  return {
    ...(stream.writeCopies ? { writeCopies: true } : {}),
    read() {
      if (pending) {
        const chunk = pending;
        pending = undefined;
        return Promise.resolve(chunk);
      }
      return stream.read();
    },
    ...(stream.readInto
      ? {
        readInto(buffer: Uint8Array): Promise<number | null> {
          if (!pending) return stream.readInto!(buffer);
          const n = Math.min(pending.byteLength, buffer.byteLength);
          buffer.set(pending.subarray(0, n));
          pending = n === pending.byteLength ? undefined : pending.subarray(n);
          return Promise.resolve(n);
        },
      }
      : {}),
    write: (chunk) => stream.write(chunk),
    closeWrite: () => stream.closeWrite(),
    abort: (reason) => stream.abort(reason),
  };
}

/** Bytes {@link closeAndDrain} reads past a final answer before it gives up and aborts. */
export const DRAIN_MAX_BYTES = 64 * 1024;

/** How long {@link closeAndDrain} waits for the peer's end before it aborts. */
export const DRAIN_TIMEOUT_MS = 10_000;

/**
 * Ends our side after a final answer (a refusal) and reads the peer's side to its end, discarding
 * it (at most {@link DRAIN_MAX_BYTES}, within {@link DRAIN_TIMEOUT_MS}); aborts the stream when
 * the peer goes on or stays silent. Why read at all: a stream that is never read again cannot see
 * its peer's end or reset — on a carrier whose connection is the stream's (a pooled TLS
 * connection) the connection would stay open at the exit for good. Never rejects.
 *
 * @example
 * ```ts
 * await sendConnectResponse(stream, { status, message, reason });
 * await closeAndDrain(stream);
 * ```
 */
export async function closeAndDrain(stream: DuplexStream): Promise<void> {
  const timer = setTimeout(
    () => stream.abort(new Error("The peer did not end the stream.")),
    DRAIN_TIMEOUT_MS,
  );
  try {
    await stream.closeWrite();
    let total = 0;
    for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read()) {
      total += chunk.byteLength;
      if (total > DRAIN_MAX_BYTES) return stream.abort(new Error("Too many bytes after the end."));
    }
  } catch {
    stream.abort();
  } finally {
    clearTimeout(timer);
  }
}
