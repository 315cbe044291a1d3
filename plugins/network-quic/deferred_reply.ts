/**
 * The exit's side of a lazy open (lazy_reply.ts): the stream reply that accepts a protocol is
 * not written on its own but goes out with the handler's first write — for a CONNECT, the
 * ConnectResponse — so the proxy gets one packet, and wakes once, where it got two. Only for a
 * stream whose header says the opener does not wait for the reply (`reply_with_first_write`);
 * and a handler that reads before it writes and finds nothing buffered gets the reply sent
 * first, so that nothing can wait on a reply held back.
 *
 * @module
 */
import type { DuplexStream } from "../../core/ports/stream_opener.ts";

/**
 * `stream` with `reply` (the encoded stream reply) written in front of the first write or
 * closeWrite, or before the first read that would wait on the network. `early` is what arrived
 * behind the stream header (the proxy's first message, when it came in the same packet): reads
 * return it first without sending the reply.
 *
 * @example
 * ```ts
 * const stream = deferredReply(raw, frameOf(QuicStreamReplySchema, { status }), rest);
 * handler(stream, info); // its first write carries the reply along
 * ```
 */
export function deferredReply(
  stream: DuplexStream,
  reply: Uint8Array,
  early: Uint8Array,
): DuplexStream {
  let pendingReply: Uint8Array | undefined = reply;
  let pendingEarly: Uint8Array | undefined = early.byteLength > 0 ? early : undefined;
  /** The reply, taken once: whoever sends first sends it. */
  const takeReply = (): Uint8Array | undefined => {
    const taken = pendingReply;
    pendingReply = undefined;
    return taken;
  };
  const flushReply = async (): Promise<void> => {
    const taken = takeReply();
    if (taken) await stream.write(taken);
  };
  return {
    ...(stream.writeCopies ? { writeCopies: true } : {}),
    async read() {
      if (pendingEarly) {
        const chunk = pendingEarly;
        pendingEarly = undefined;
        return chunk;
      }
      await flushReply();
      return await stream.read();
    },
    ...(stream.readInto
      ? {
        async readInto(buffer: Uint8Array): Promise<number | null> {
          if (pendingEarly) {
            const n = Math.min(pendingEarly.byteLength, buffer.byteLength);
            buffer.set(pendingEarly.subarray(0, n));
            pendingEarly = n === pendingEarly.byteLength ? undefined : pendingEarly.subarray(n);
            return n;
          }
          await flushReply();
          return await stream.readInto!(buffer);
        },
      }
      : {}),
    write(chunk) {
      const taken = takeReply();
      if (!taken) return stream.write(chunk);
      const out = new Uint8Array(taken.byteLength + chunk.byteLength);
      out.set(taken);
      out.set(chunk, taken.byteLength);
      return stream.write(out);
    },
    async closeWrite() {
      await flushReply();
      await stream.closeWrite();
    },
    abort: (reason) => stream.abort(reason),
  };
}
