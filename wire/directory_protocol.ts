/**
 * The directory protocols (docs/wire-protocols.md#directory-protocol), same messages, same
 * frames:
 *
 * - `/p2proxy/directory/1.0.0`: one length-prefixed `DirectoryRequest` from the caller, one
 *   `DirectoryResponse` from the hub, then both sides close;
 * - `/p2proxy/directory/1.1.0`: a session, many requests on one long-lived stream, each
 *   answered in request order (wire/directory_session.ts, hub/directory_server.ts).
 *
 * This file holds the protocol ids, their timings and bounds, and
 * the conversions between the generated messages and the core's types
 * (64-bit fields are `bigint` on the wire, numbers in the core).
 *
 * @module
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { encodeFrame, readFrame } from "../core/codec/frame.ts";
import { P2proxyError } from "../core/errors.ts";
import type {
  ExitAttributes,
  FlagPolicy as CoreFlagPolicy,
  ServerFilters,
} from "../core/domain/attributes.ts";
import { NO_FILTERS } from "../core/domain/attributes.ts";
import type { DuplexStream } from "../core/ports/stream_opener.ts";
import {
  type DirectoryRequest,
  DirectoryRequestSchema,
  type DirectoryResponse,
  DirectoryResponseSchema,
  type ExitAttributes as WireAttributes,
  ExitAttributesSchema,
  type Filters as WireFilters,
  FiltersSchema,
  FlagPolicy,
} from "../proto/gen/p2proxy/directory/v1/directory_pb.ts";
import { chunksOf } from "./duplex.ts";

export { ErrorCode } from "../proto/gen/p2proxy/directory/v1/directory_pb.ts";

/** The protocol id, versioned so that a hub lacking it is told apart by multistream-select. */
export const DIRECTORY_PROTOCOL = "/p2proxy/directory/1.0.0";

/** The session protocol: many requests per stream, answers in request order. */
export const DIRECTORY_SESSION_PROTOCOL = "/p2proxy/directory/1.1.0";

/**
 * Requests one session carries at once: a caller sends no more before an answer comes, and
 * the hub reads no further request of that stream while this many are being answered.
 */
export const MAX_PIPELINED_REQUESTS = 32;

/** A hub resets a session that carried no request for this long (none unanswered). */
export const DIRECTORY_SESSION_IDLE_MS = 60_000;

/** How long a hub waits for the request of a stream it accepted (bounded: never hangs). */
export const DIRECTORY_REQUEST_TIMEOUT_MS = 10_000;

/** How long a caller waits for a hub (dial, open, answer), per hub. */
export const DIRECTORY_RESPONSE_TIMEOUT_MS = 10_000;

/** Why a wire message cannot become a core value. */
export type DirectoryWireErrorCode = "invalid-value";

/** A wire value that cannot become a core value (the hub answers INVALID_ARGUMENT). */
export class DirectoryWireError extends P2proxyError<DirectoryWireErrorCode> {}

const POLICY_FROM_WIRE: ReadonlyMap<number, CoreFlagPolicy> = new Map([
  [FlagPolicy.ALLOW, "allow"],
  [FlagPolicy.DENY, "deny"],
  [FlagPolicy.REQUIRE, "require"],
]);

const POLICY_TO_WIRE: Readonly<Record<CoreFlagPolicy, FlagPolicy>> = {
  allow: FlagPolicy.ALLOW,
  deny: FlagPolicy.DENY,
  require: FlagPolicy.REQUIRE,
};

/** A bigint count as a number; values beyond 2^53 become a number the core's range checks refuse. */
function toNumber(value: bigint): number {
  return Number(value);
}

/** A non-negative whole number as the wire's uint64 (0 for anything else). */
function toUint64(value: number): bigint {
  return Number.isSafeInteger(value) && value >= 0 ? BigInt(value) : 0n;
}

/** Wire attributes as the core's (not yet validated: `domain/registry.ts` does that). */
export function attributesFromWire(wire: WireAttributes | undefined): ExitAttributes {
  if (!wire) return { bandwidthBps: 0, proxy: false, mobile: false, hosting: false };
  return {
    bandwidthBps: toNumber(wire.bandwidthBps),
    proxy: wire.proxy,
    mobile: wire.mobile,
    hosting: wire.hosting,
    ...(wire.country === undefined ? {} : { country: wire.country }),
    ...(wire.city === undefined ? {} : { city: wire.city }),
    ...(wire.region === undefined ? {} : { region: wire.region }),
    ...(wire.isp === undefined ? {} : { isp: wire.isp }),
    ...(wire.asn === undefined ? {} : { asn: wire.asn }),
  };
}

/** The core's attributes as a wire message. */
export function attributesToWire(attrs: ExitAttributes): WireAttributes {
  return create(ExitAttributesSchema, {
    bandwidthBps: toUint64(attrs.bandwidthBps),
    proxy: attrs.proxy,
    mobile: attrs.mobile,
    hosting: attrs.hosting,
    ...(attrs.country === undefined ? {} : { country: attrs.country }),
    ...(attrs.city === undefined ? {} : { city: attrs.city }),
    ...(attrs.region === undefined ? {} : { region: attrs.region }),
    ...(attrs.isp === undefined ? {} : { isp: attrs.isp }),
    ...(attrs.asn === undefined ? {} : { asn: attrs.asn }),
  });
}

/**
 * Wire filters as the core's; absent filters accept every exit and an empty
 * string counts as unset. Validation is the core matcher's.
 *
 * @throws {DirectoryWireError} for a flag policy the core does not know.
 */
export function filtersFromWire(wire: WireFilters | undefined): ServerFilters {
  if (!wire) return NO_FILTERS;
  const set = (value: string | undefined): value is string => value !== undefined && value !== "";
  return {
    minBandwidthBps: toNumber(wire.minBandwidthBps),
    proxy: policyFromWire("proxy", wire.proxy),
    mobile: policyFromWire("mobile", wire.mobile),
    hosting: policyFromWire("hosting", wire.hosting),
    ...(set(wire.country) ? { country: wire.country } : {}),
    ...(set(wire.city) ? { city: wire.city } : {}),
    ...(set(wire.isp) ? { isp: wire.isp } : {}),
    ...(wire.asn === undefined ? {} : { asn: wire.asn }),
  };
}

function policyFromWire(flag: string, value: FlagPolicy): CoreFlagPolicy {
  const policy = POLICY_FROM_WIRE.get(value);
  if (policy !== undefined) return policy;
  throw new DirectoryWireError(
    "invalid-value",
    `filters.${flag} ${value} is not a flag policy: send 0 (allow), 1 (deny) or 2 (require).`,
  );
}

/** The core's filters as a wire message. */
export function filtersToWire(filters: ServerFilters): WireFilters {
  return create(FiltersSchema, {
    minBandwidthBps: toUint64(filters.minBandwidthBps),
    proxy: POLICY_TO_WIRE[filters.proxy],
    mobile: POLICY_TO_WIRE[filters.mobile],
    hosting: POLICY_TO_WIRE[filters.hosting],
    ...(filters.country === undefined ? {} : { country: filters.country }),
    ...(filters.city === undefined ? {} : { city: filters.city }),
    ...(filters.isp === undefined ? {} : { isp: filters.isp }),
    ...(filters.asn === undefined ? {} : { asn: filters.asn }),
  });
}

/** Caller side: sends one request and half-closes, so the hub sees the end of it. */
export async function sendRequest(stream: DuplexStream, request: DirectoryRequest): Promise<void> {
  await stream.write(encodeFrame(toBinary(DirectoryRequestSchema, request)));
  await stream.closeWrite();
}

/** Caller side: reads the one response (bounded by `signal`). Throws `FrameError` or a decode error. */
export async function readResponse(
  stream: DuplexStream,
  signal: AbortSignal,
): Promise<DirectoryResponse> {
  const { frame } = await readFrame(chunksOf(stream), signal);
  return fromBinary(DirectoryResponseSchema, frame);
}

/** Hub side: sends the response. */
export async function sendResponse(
  stream: DuplexStream,
  response: DirectoryResponse,
): Promise<void> {
  await stream.write(encodeFrame(toBinary(DirectoryResponseSchema, response)));
}
