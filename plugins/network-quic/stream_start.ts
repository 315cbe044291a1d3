/**
 * The proxy's side of starting a stream on either carrier (a new QUIC stream, or a pooled TLS
 * connection): send the header naming the protocol and wait for the exit's reply — or, for a
 * lazy open, send the header with the caller's first write and check the reply in front of its
 * first read (lazy_reply.ts).
 *
 * @module
 */
import { describeError } from "../../core/errors.ts";
import type { PeerId } from "../../core/ids.ts";
import { type DuplexStream, StreamError } from "../../core/ports/stream_opener.ts";
import {
  QuicStreamHeaderSchema,
  QuicStreamReplySchema,
  QuicStreamStatus,
} from "../../proto/gen/p2proxy/quic/v1/quic_pb.ts";
import { lazyReply } from "./lazy_reply.ts";
import { frameOf, readMessage } from "./messages.ts";

/** For a lazy reply whose caller has no abort of its own. */
const NEVER_ABORTED = new AbortController().signal;

/** How to start the stream. */
export interface StreamStart {
  readonly protocol: string;
  readonly peer: PeerId;
  /** Bounds the wait for the reply of an eager start. */
  readonly signal: AbortSignal;
  /** Resolve before the reply; the header rides the first write. */
  readonly lazy: boolean;
  /** Aborts a lazy stream's wait for its reply (the caller's own abort). */
  readonly replySignal?: AbortSignal | undefined;
  /** The carrier's name in errors ("QUIC", "TLS"). */
  readonly carrier: string;
}

/**
 * `stream` with its header sent and its reply checked (or to be checked, when lazy).
 *
 * @throws {StreamError} `unsupported-protocol` when the exit does not serve the protocol on this
 *   carrier, `io` on a refusal or a failed stream; the signal's reason when it aborts.
 *
 * @example
 * ```ts
 * const stream = await startStream(new QuicDuplexStream(raw), {
 *   protocol, peer, signal, lazy: true, carrier: "QUIC",
 * });
 * ```
 */
export async function startStream(
  stream: DuplexStream,
  options: StreamStart,
): Promise<DuplexStream> {
  const { protocol, peer, signal, carrier } = options;
  const header = frameOf(QuicStreamHeaderSchema, { protocol, replyWithFirstWrite: options.lazy });
  // Lazy: the header goes out with the caller's first write; its first read checks the reply.
  // The reply is read after the open returned: the open's deadline no longer applies (the
  // caller bounds its own first read); only the caller's own abort does.
  if (options.lazy) {
    return lazyReply(stream, {
      protocol,
      peer,
      signal: options.replySignal ?? NEVER_ABORTED,
      header,
    });
  }
  try {
    await stream.write(header);
    const { message, stream: rest } = await readMessage(stream, QuicStreamReplySchema, signal);
    if (message.status === QuicStreamStatus.ACCEPTED) return rest;
    stream.abort();
    if (message.status === QuicStreamStatus.UNSUPPORTED_PROTOCOL) {
      throw new StreamError(
        "unsupported-protocol",
        `Peer ${peer} does not speak ${protocol} over ${carrier}.`,
      );
    }
    throw new StreamError(
      "io",
      `Peer ${peer} refused another ${protocol} stream over ${carrier} (its limit).`,
    );
  } catch (error) {
    stream.abort();
    if (error instanceof StreamError) throw error;
    throw signal.aborted ? signal.reason : carrierError(carrier, peer, error);
  }
}

/** A stream that could not be started on a carrier, as the core's `io` error. */
export function carrierError(carrier: string, peer: PeerId, error: unknown): StreamError {
  return new StreamError(
    "io",
    `Cannot open a ${carrier} stream to ${peer}: ${describeError(error)}`,
    { cause: error },
  );
}
