/**
 * `/p2proxy/connect/1.0.0` (docs/wire-protocols.md#connect-protocol): one length-prefixed
 * `ConnectRequest` from the proxy, one `ConnectResponse` from the exit, then raw bytes both ways.
 *
 * @module
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { encodeFrame, readFrame } from "../core/codec/frame.ts";
import type { DuplexStream } from "../core/ports/stream_opener.ts";
import {
  type ConnectRequest,
  ConnectRequestSchema,
  ConnectResponseSchema,
  ConnectStatus,
} from "../proto/gen/p2proxy/connect/v1/connect_pb.ts";
import { chunksOf, withPrefix } from "./duplex.ts";

/** The protocol id, versioned so a peer that lacks it is told so by multistream-select. */
export const CONNECT_PROTOCOL = "/p2proxy/connect/1.0.0";

export { ConnectStatus };

/** What the proxy asks of the exit. */
export interface ConnectTarget {
  readonly host: string;
  readonly port: number;
  readonly token: string;
  readonly sessionId: string;
}

/** The exit's answer, and the stream positioned after it. */
export interface ConnectReply {
  readonly status: ConnectStatus;
  readonly message: string;
  /** On failure, the exit's machine-readable reason (`auth`, an egress reason); may be empty. */
  readonly reason: string;
  readonly boundHost: string;
  readonly boundPort: number;
  /** The stream, with any bytes that arrived behind the response put back in front. */
  readonly stream: DuplexStream;
}

/** Proxy side: sends the request and waits (bounded by `signal`) for the response. */
export async function requestConnect(
  stream: DuplexStream,
  target: ConnectTarget,
  signal: AbortSignal,
): Promise<ConnectReply> {
  await stream.write(
    encodeFrame(toBinary(ConnectRequestSchema, create(ConnectRequestSchema, target))),
  );
  const { frame, rest } = await readFrame(chunksOf(stream), signal);
  const response = fromBinary(ConnectResponseSchema, frame);
  return {
    status: response.status,
    message: response.message,
    reason: response.reason,
    boundHost: response.boundHost,
    boundPort: response.boundPort,
    stream: withPrefix(stream, rest),
  };
}

/** Exit side: reads the request (bounded by `signal`); returns it and the stream after it. */
export async function readConnectRequest(
  stream: DuplexStream,
  signal: AbortSignal,
): Promise<{ request: ConnectRequest; stream: DuplexStream }> {
  const { frame, rest } = await readFrame(chunksOf(stream), signal);
  return { request: fromBinary(ConnectRequestSchema, frame), stream: withPrefix(stream, rest) };
}

/** Exit side: sends the response. */
export async function sendConnectResponse(
  stream: DuplexStream,
  response: {
    status: ConnectStatus;
    message?: string;
    reason?: string;
    boundHost?: string;
    boundPort?: number;
  },
): Promise<void> {
  const message = create(ConnectResponseSchema, {
    status: response.status,
    message: response.message ?? "",
    reason: response.reason ?? "",
    boundHost: response.boundHost ?? "",
    boundPort: response.boundPort ?? 0,
  });
  await stream.write(encodeFrame(toBinary(ConnectResponseSchema, message)));
}
