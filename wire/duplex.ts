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
