/**
 * `/p2proxy/udp/1.0.0` (docs/wire-protocols.md#udp-protocol): one UDP association per stream.
 * One length-prefixed `UdpAssociateRequest` from the proxy, one `UdpAssociateResponse` from the
 * exit, then one length-prefixed `UdpDatagram` per datagram, both ways, until either side closes.
 * A datagram is a frame, never split or merged, so the stream keeps UDP's message boundaries.
 *
 * @example Proxy side
 * ```ts
 * const answer = await requestUdpAssociation(stream, { token, sessionId }, signal);
 * if (answer.status === ConnectStatus.SUCCEEDED) {
 *   await answer.stream.write(encodeUdpPacketFrame({ host: "127.0.0.1", port: 53, data }));
 *   const frame = await new UdpFrameReader(answer.stream).next(); // a reply, a refusal, or null
 * }
 * ```
 *
 * @module
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { encodeFrame, FrameDecoder, MAX_FRAME_BYTES, readFrame } from "../core/codec/frame.ts";
import { P2proxyError } from "../core/errors.ts";
import type { DuplexStream } from "../core/ports/stream_opener.ts";
import { ConnectStatus } from "../proto/gen/p2proxy/connect/v1/connect_pb.ts";
import {
  UdpAssociateRequestSchema,
  UdpAssociateResponseSchema,
  UdpDatagramSchema,
} from "../proto/gen/p2proxy/udp/v1/udp_pb.ts";
import { chunksOf, withPrefix } from "./duplex.ts";

/** The protocol id, versioned so a peer that lacks it is told so by multistream-select. */
export const UDP_PROTOCOL = "/p2proxy/udp/1.0.0";

/**
 * The largest datagram payload carried. A frame holds at most 64 KiB; this leaves room for the
 * address and the message's tags. Larger datagrams (only possible on loopback or with IPv4
 * jumbo payloads up to 65,507 bytes) are dropped at the door.
 */
export const MAX_UDP_PAYLOAD_BYTES = 65_000;

/** Longest host (RFC 1035 and the SOCKS5 length byte), as in the connect protocol. */
const MAX_HOST_CHARS = 255;

/** Longest refusal reason and message kept from the exit (they end up in logs). */
const MAX_REASON_CHARS = 64;
const MAX_MESSAGE_CHARS = 512;

export { ConnectStatus };

/** Why a frame of the UDP protocol was refused. */
export type UdpProtocolErrorCode = "malformed" | "too-large";

/** A frame that is not a valid `UdpDatagram`. */
export class UdpProtocolError extends P2proxyError<UdpProtocolErrorCode> {}

/** One datagram with its destination (proxy → exit) or its source (exit → proxy). */
export interface UdpPacket {
  /** An IP literal or (proxy → exit only) a name the exit resolves. */
  readonly host: string;
  /** 1..65535. */
  readonly port: number;
  /** The payload, at most {@link MAX_UDP_PAYLOAD_BYTES}. */
  readonly data: Uint8Array;
}

/** The exit would not send to `host:port` (exit → proxy, once per destination). */
export interface UdpRefusal {
  readonly host: string;
  readonly port: number;
  /** `denied-range`, `denied-port`, `dns`…: the egress policy's or the resolver's reason. */
  readonly reason: string;
  /** One line for the log. */
  readonly message: string;
}

/** A decoded frame after the handshake. */
export type UdpFrame =
  | { readonly kind: "datagram"; readonly packet: UdpPacket }
  | { readonly kind: "refused"; readonly refusal: UdpRefusal };

/**
 * One datagram as a frame for the stream. Throws {@link UdpProtocolError} `too-large` for a
 * payload over {@link MAX_UDP_PAYLOAD_BYTES} and `malformed` for a bad host or port.
 */
export function encodeUdpPacketFrame(packet: UdpPacket): Uint8Array {
  const problem = invalidAddress(packet.host, packet.port);
  if (problem) throw new UdpProtocolError("malformed", problem);
  if (packet.data.byteLength > MAX_UDP_PAYLOAD_BYTES) throw tooLarge(packet.data.byteLength);
  const message = create(UdpDatagramSchema, {
    host: packet.host,
    port: packet.port,
    data: packet.data,
  });
  return encodeFrame(toBinary(UdpDatagramSchema, message));
}

/** A refusal as a frame for the stream (reason and message cut to their bounds). */
export function encodeUdpRefusalFrame(refusal: UdpRefusal): Uint8Array {
  const message = create(UdpDatagramSchema, {
    host: refusal.host.slice(0, MAX_HOST_CHARS),
    port: refusal.port,
    refused: refusal.reason.slice(0, MAX_REASON_CHARS) || "refused",
    message: refusal.message.slice(0, MAX_MESSAGE_CHARS),
  });
  return encodeFrame(toBinary(UdpDatagramSchema, message));
}

/**
 * Decodes one frame's payload. Throws {@link UdpProtocolError}: `malformed` for bytes that are
 * not a `UdpDatagram` or carry a bad host or port, `too-large` for a payload over the bound.
 */
export function decodeUdpFrame(payload: Uint8Array): UdpFrame {
  let message;
  try {
    message = fromBinary(UdpDatagramSchema, payload);
  } catch (error) {
    throw new UdpProtocolError(
      "malformed",
      `A ${payload.byteLength}-byte frame on ${UDP_PROTOCOL} is not a UdpDatagram; the peer ` +
        "speaks another protocol or a broken version.",
      { cause: error },
    );
  }
  if (message.refused !== "") {
    return {
      kind: "refused",
      refusal: {
        host: message.host.slice(0, MAX_HOST_CHARS),
        port: message.port,
        reason: message.refused.slice(0, MAX_REASON_CHARS),
        message: message.message.slice(0, MAX_MESSAGE_CHARS),
      },
    };
  }
  const problem = invalidAddress(message.host, message.port);
  if (problem) throw new UdpProtocolError("malformed", problem);
  if (message.data.byteLength > MAX_UDP_PAYLOAD_BYTES) throw tooLarge(message.data.byteLength);
  return {
    kind: "datagram",
    packet: { host: message.host, port: message.port, data: message.data },
  };
}

/** Reads the frames that follow the handshake, one datagram (or refusal) at a time. */
export class UdpFrameReader {
  readonly #stream: DuplexStream;
  readonly #decoder = new FrameDecoder();

  /** Reads from `stream`; `prefix` holds bytes already read past the handshake. */
  constructor(stream: DuplexStream, prefix: Uint8Array = new Uint8Array(0)) {
    this.#stream = stream;
    this.#decoder.append(prefix);
  }

  /**
   * The next frame, or null once the peer closed its write side between frames. Throws
   * {@link UdpProtocolError} for a bad frame, a `FrameError` for a bad length or a stream that
   * ends inside a frame, and whatever the stream's read throws (a reset).
   */
  async next(): Promise<UdpFrame | null> {
    while (true) {
      const payload = this.#decoder.nextFrame();
      if (payload) return decodeUdpFrame(payload);
      const chunk = await this.#stream.read();
      if (chunk === null) {
        if (this.#decoder.bufferedBytes === 0) return null;
        throw new UdpProtocolError(
          "malformed",
          `The stream ended inside a frame (${this.#decoder.bufferedBytes} bytes of it arrived).`,
        );
      }
      this.#decoder.append(chunk);
    }
  }
}

/** The exit's answer to an association request. */
export interface UdpAssociationReply {
  readonly status: ConnectStatus;
  readonly message: string;
  readonly reason: string;
  /** The stream, with any bytes that arrived behind the answer put back in front. */
  readonly stream: DuplexStream;
}

/** Proxy side: sends the request and waits (bounded by `signal`) for the answer. */
export async function requestUdpAssociation(
  stream: DuplexStream,
  request: { readonly token: string; readonly sessionId: string },
  signal: AbortSignal,
): Promise<UdpAssociationReply> {
  await stream.write(
    encodeFrame(toBinary(UdpAssociateRequestSchema, create(UdpAssociateRequestSchema, request))),
  );
  const { frame, rest } = await readFrame(chunksOf(stream), signal);
  const response = fromBinary(UdpAssociateResponseSchema, frame);
  return {
    status: response.status,
    message: response.message,
    reason: response.reason,
    stream: withPrefix(stream, rest),
  };
}

/** Exit side: reads the request (bounded by `signal`); returns it and the frames after it. */
export async function readUdpAssociateRequest(
  stream: DuplexStream,
  signal: AbortSignal,
): Promise<{ token: string; sessionId: string; frames: UdpFrameReader }> {
  const { frame, rest } = await readFrame(chunksOf(stream), signal);
  const request = fromBinary(UdpAssociateRequestSchema, frame);
  return {
    token: request.token,
    sessionId: request.sessionId,
    frames: new UdpFrameReader(stream, rest),
  };
}

/** Exit side: sends the answer. */
export async function sendUdpAssociateResponse(
  stream: DuplexStream,
  response: { status: ConnectStatus; message?: string; reason?: string },
): Promise<void> {
  const message = create(UdpAssociateResponseSchema, {
    status: response.status,
    message: response.message ?? "",
    reason: response.reason ?? "",
  });
  await stream.write(encodeFrame(toBinary(UdpAssociateResponseSchema, message)));
}

/** Why a host and port cannot name a datagram's end, or undefined when they can. */
function invalidAddress(host: string, port: number): string | undefined {
  if (host.length === 0 || host.length > MAX_HOST_CHARS) {
    return `UDP datagram host "${host.slice(0, 40)}" must be 1..${MAX_HOST_CHARS} characters.`;
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f\s]/.test(host)) {
    return `UDP datagram host ${JSON.stringify(host.slice(0, 40))} contains control characters.`;
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return `UDP datagram port ${port} is not in 1..65535.`;
  }
  return undefined;
}

function tooLarge(bytes: number): UdpProtocolError {
  return new UdpProtocolError(
    "too-large",
    `A UDP datagram of ${bytes} bytes exceeds the ${MAX_UDP_PAYLOAD_BYTES}-byte limit of ` +
      `${UDP_PROTOCOL} (a frame holds ${MAX_FRAME_BYTES} bytes); send smaller datagrams.`,
  );
}
