/**
 * The exit's side of one stream on either carrier (a QUIC stream, or a stream on a pooled TLS
 * connection): read its header within {@link STREAM_HEADER_TIMEOUT_MS}, check the protocol and
 * its open-stream limit, answer (now, or with the handler's first write for a lazy opener), and
 * hand the rest to the protocol's handler — exactly as a libp2p stream would reach it.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { describeError } from "../../core/errors.ts";
import type { PeerId } from "../../core/ids.ts";
import type { ConnectionInfo, StreamHandler } from "../../core/ports/network.ts";
import type { DuplexStream } from "../../core/ports/stream_opener.ts";
import {
  QuicStreamHeaderSchema,
  QuicStreamReplySchema,
  QuicStreamStatus,
} from "../../proto/gen/p2proxy/quic/v1/quic_pb.ts";
import { closeAndDrain, withPrefix } from "../../wire/duplex.ts";
import { deadlineSignal } from "./abortable.ts";
import { STREAM_HEADER_TIMEOUT_MS } from "./constants.ts";
import { deferredReply } from "./deferred_reply.ts";
import { frameOf, readMessageAndRest, sendMessage } from "./messages.ts";

const logger = getLogger(["p2proxy", "network", "quic"]);

/** A served protocol. */
export interface ServedProtocol {
  readonly handler: StreamHandler;
  /** Streams of it one peer's connection (QUIC) or connections (TLS) may have open. */
  readonly maxInboundStreams: number;
}

/** Open streams per protocol, and which protocol a stream counted under (to release it). */
export class OpenStreams {
  readonly #open = new Map<string, number>();

  /** Counts a stream of `protocol` when under `limit`; false at the limit. */
  tryAdd(protocol: string, limit: number): boolean {
    const open = this.#open.get(protocol) ?? 0;
    if (open >= limit) return false;
    this.#open.set(protocol, open + 1);
    return true;
  }

  /** A stream of `protocol` ended. */
  release(protocol: string): void {
    const left = (this.#open.get(protocol) ?? 1) - 1;
    if (left <= 0) this.#open.delete(protocol);
    else this.#open.set(protocol, left);
  }
}

/** Where a stream is dispatched from. */
export interface DispatchContext {
  readonly handlers: ReadonlyMap<string, ServedProtocol>;
  readonly open: OpenStreams;
  readonly peer: PeerId;
  readonly info: ConnectionInfo;
  /** Receives the protocol the stream was counted under, to release it when the stream ends. */
  readonly onCounted: (protocol: string) => void;
}

/**
 * Reads `stream`'s header and hands it to its protocol's handler, or answers why not and ends
 * it. Never rejects.
 *
 * @example
 * ```ts
 * let counted: string | undefined;
 * const stream = new QuicDuplexStream(raw, () => counted && open.release(counted));
 * await dispatchStream(stream, { handlers, open, peer, info, onCounted: (p) => (counted = p) });
 * ```
 */
export async function dispatchStream(
  stream: DuplexStream,
  context: DispatchContext,
): Promise<void> {
  let header;
  let early: Uint8Array;
  const deadline = deadlineSignal(STREAM_HEADER_TIMEOUT_MS);
  try {
    ({ message: header, rest: early } = await readMessageAndRest(
      stream,
      QuicStreamHeaderSchema,
      deadline.signal,
    ));
  } catch (error) {
    logger.debug("Dropped a stream from {peer}: {error}", {
      peer: context.peer,
      error: describeError(error),
    });
    return stream.abort();
  } finally {
    deadline.clear();
  }
  const entry = context.handlers.get(header.protocol);
  const status = entry === undefined
    ? QuicStreamStatus.UNSUPPORTED_PROTOCOL
    : context.open.tryAdd(header.protocol, entry.maxInboundStreams)
    ? QuicStreamStatus.ACCEPTED
    : QuicStreamStatus.LIMIT;
  if (status === QuicStreamStatus.ACCEPTED) context.onCounted(header.protocol);
  let rest: DuplexStream;
  if (status === QuicStreamStatus.ACCEPTED && header.replyWithFirstWrite) {
    // A lazy opener: the reply goes out with the handler's first write (deferred_reply.ts).
    rest = deferredReply(stream, frameOf(QuicStreamReplySchema, { status }), early);
  } else {
    try {
      await sendMessage(stream, QuicStreamReplySchema, { status });
      if (status !== QuicStreamStatus.ACCEPTED) {
        // Read on to the opener's end, so that a connection carrying streams one after another
        // is free again (a QUIC stream just ends).
        return await closeAndDrain(stream);
      }
    } catch {
      return stream.abort();
    }
    rest = withPrefix(stream, early);
  }
  try {
    entry!.handler(rest, context.info);
  } catch (error) {
    logger.error("A handler of {protocol} failed: {error}", {
      protocol: header.protocol,
      error: describeError(error),
    });
    stream.abort();
  }
}
