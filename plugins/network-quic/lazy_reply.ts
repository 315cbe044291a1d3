/**
 * A QUIC stream opened without waiting for the exit's stream reply (`OpenOptions.lazy`): the
 * stream header goes out with the caller's first write (its ConnectRequest) — one write, one
 * packet — and the reply is read in front of the caller's first read. One round trip per session
 * instead of two; the exit still answers only after it accepted the protocol.
 *
 * @module
 */
import type { PeerId } from "../../core/ids.ts";
import { type DuplexStream, StreamError } from "../../core/ports/stream_opener.ts";
import {
  QuicStreamReplySchema,
  QuicStreamStatus,
} from "../../proto/gen/p2proxy/quic/v1/quic_pb.ts";
import { readMessage } from "./messages.ts";

/** What the lazy stream needs to read the reply and name the peer in errors. */
export interface LazyReplyOptions {
  readonly protocol: string;
  readonly peer: PeerId;
  /** Bounds the wait for the reply (the open's deadline). */
  readonly signal: AbortSignal;
  /**
   * The stream header, not written yet: it goes in front of the first write (or alone, before
   * the first read or closeWrite when the caller reads first).
   */
  readonly header?: Uint8Array;
}

/**
 * Wraps `stream` (its stream header written, or given as `options.header` to go with the first
 * write): the first read or readInto reads the reply first and fails with `StreamError`
 * `unsupported-protocol` (or `io` for a refusal at the exit's limit) when the exit did not accept
 * the protocol.
 *
 * @example
 * ```ts
 * const header = frameOf(QuicStreamHeaderSchema, { protocol });
 * const stream = lazyReply(raw, { protocol, peer, signal, header });
 * await stream.write(connectRequest); // header + request in one write, no round trip before it
 * const answer = await stream.read(); // the reply was checked on the way
 * ```
 */
export function lazyReply(stream: DuplexStream, options: LazyReplyOptions): DuplexStream {
  let accepted: Promise<DuplexStream> | undefined;
  let rest: DuplexStream | undefined;
  let header = options.header;
  /** The header, taken once: whoever writes first sends it. */
  const takeHeader = (): Uint8Array | undefined => {
    const taken = header;
    header = undefined;
    return taken;
  };
  const flushHeader = async (): Promise<void> => {
    const pending = takeHeader();
    if (pending) await stream.write(pending);
  };
  const confirmed = async (): Promise<DuplexStream> => {
    if (rest) return rest;
    await flushHeader();
    accepted ??= readReply(stream, options);
    rest = await accepted;
    return rest;
  };
  return {
    ...(stream.writeCopies ? { writeCopies: true } : {}),
    async read() {
      return await (rest ?? await confirmed()).read();
    },
    ...(stream.readInto
      ? {
        async readInto(buffer: Uint8Array): Promise<number | null> {
          // withPrefix keeps readInto when the wrapped stream has it.
          return await (rest ?? await confirmed()).readInto!(buffer);
        },
      }
      : {}),
    write(chunk) {
      const pending = takeHeader();
      return stream.write(pending ? concat(pending, chunk) : chunk);
    },
    async closeWrite() {
      await flushHeader();
      await stream.closeWrite();
    },
    abort: (reason) => stream.abort(reason),
  };
}

function concat(first: Uint8Array, second: Uint8Array): Uint8Array {
  const out = new Uint8Array(first.byteLength + second.byteLength);
  out.set(first);
  out.set(second, first.byteLength);
  return out;
}

async function readReply(stream: DuplexStream, options: LazyReplyOptions): Promise<DuplexStream> {
  let reply;
  try {
    reply = await readMessage(stream, QuicStreamReplySchema, options.signal);
  } catch (error) {
    stream.abort();
    throw error;
  }
  const { message, stream: rest } = reply;
  if (message.status === QuicStreamStatus.ACCEPTED) return rest;
  stream.abort();
  if (message.status === QuicStreamStatus.UNSUPPORTED_PROTOCOL) {
    throw new StreamError(
      "unsupported-protocol",
      `Peer ${options.peer} does not speak ${options.protocol} over QUIC.`,
    );
  }
  throw new StreamError(
    "io",
    `Peer ${options.peer} refused another ${options.protocol} stream on this connection (its limit).`,
  );
}
