/**
 * A QUIC stream opened without waiting for the exit's stream reply (`OpenOptions.lazy`): the
 * stream header is already written, the caller's first write (its ConnectRequest) follows it at
 * once, and the reply is read in front of the caller's first read. One round trip per session
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
}

/**
 * Wraps `stream` (its stream header written): the first read or readInto reads the reply
 * first and fails with `StreamError` `unsupported-protocol` (or `io` for a refusal at the
 * exit's limit) when the exit did not accept the protocol.
 *
 * @example
 * ```ts
 * await raw.write(frameOf(QuicStreamHeaderSchema, { protocol }));
 * const stream = lazyReply(raw, { protocol, peer, signal });
 * await stream.write(connectRequest); // no round trip before it
 * const answer = await stream.read(); // the reply was checked on the way
 * ```
 */
export function lazyReply(stream: DuplexStream, options: LazyReplyOptions): DuplexStream {
  let accepted: Promise<DuplexStream> | undefined;
  let rest: DuplexStream | undefined;
  const confirmed = async (): Promise<DuplexStream> => {
    if (rest) return rest;
    accepted ??= readReply(stream, options);
    rest = await accepted;
    return rest;
  };
  return {
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
    write: (chunk) => stream.write(chunk),
    closeWrite: () => stream.closeWrite(),
    abort: (reason) => stream.abort(reason),
  };
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
