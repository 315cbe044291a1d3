/**
 * Sending and reading the QUIC plugin's protobuf messages (`proto/p2proxy/quic/v1/quic.proto`)
 * on a `DuplexStream`: one length-prefixed frame each (core/codec/frame.ts), the bytes after it
 * kept for whoever reads the stream next.
 *
 * @module
 */
import {
  create,
  type DescMessage,
  fromBinary,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { encodeFrame, readFrame } from "../../core/codec/frame.ts";
import type { DuplexStream } from "../../core/ports/stream_opener.ts";
import { chunksOf, withPrefix } from "../../wire/duplex.ts";

/** The message as one frame, ready to write. */
export function frameOf<Desc extends DescMessage>(
  schema: Desc,
  init: MessageInitShape<Desc>,
): Uint8Array {
  return encodeFrame(toBinary(schema, create(schema, init)));
}

/** Writes one message. */
export async function sendMessage<Desc extends DescMessage>(
  stream: DuplexStream,
  schema: Desc,
  init: MessageInitShape<Desc>,
): Promise<void> {
  await stream.write(frameOf(schema, init));
}

/**
 * Reads one message (bounded by `signal`); returns it and the stream positioned after it.
 *
 * @throws {FrameError} from the framing; protobuf's own error for a payload that does not parse.
 */
export async function readMessage<Desc extends DescMessage>(
  stream: DuplexStream,
  schema: Desc,
  signal: AbortSignal,
): Promise<{ message: MessageShape<Desc>; stream: DuplexStream }> {
  const { message, rest } = await readMessageAndRest(stream, schema, signal);
  return { message, stream: withPrefix(stream, rest) };
}

/**
 * Like {@link readMessage}, but hands back the bytes read past the message as they are (for a
 * wrapper that wants to know whether any came along).
 *
 * @example
 * ```ts
 * const { message, rest } = await readMessageAndRest(stream, QuicStreamHeaderSchema, signal);
 * ```
 */
export async function readMessageAndRest<Desc extends DescMessage>(
  stream: DuplexStream,
  schema: Desc,
  signal: AbortSignal,
): Promise<{ message: MessageShape<Desc>; rest: Uint8Array }> {
  const { frame, rest } = await readFrame(chunksOf(stream), signal);
  return { message: fromBinary(schema, frame), rest };
}
