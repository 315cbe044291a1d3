/**
 * The `udp` keys (docs/config-reference.md): the bounds of one SOCKS5 UDP association — a proxy
 * server's `udp` and an exit's `limits.udp` — validated here, with the documented defaults
 * (core/domain/udp_limits.ts).
 *
 * @example
 * ```ts
 * udpLimitsSchema.parse({ idle_timeout_secs: 30 });
 * // { idleTimeoutMs: 30_000, maxDatagramsPerSecond: 1000, maxBufferedBytes: 262144 }
 * ```
 *
 * @module
 */
import { z } from "zod";
import {
  UDP_IDLE_TIMEOUT_MS,
  UDP_MAX_BUFFERED_BYTES,
  UDP_MAX_DATAGRAMS_PER_SECOND,
} from "../domain/udp_limits.ts";
import { countSchema, durationSecsSchema } from "./common.ts";

/**
 * Fewest bytes `max_buffered_bytes` accepts: one largest datagram (65 000 bytes of payload, the
 * UDP protocol's bound) with its frame header, so a full-size datagram can ever pass.
 */
export const MIN_UDP_BUFFERED_BYTES = 65_536;
/** Most `max_buffered_bytes` accepts: 64 MiB waiting per association and direction. */
export const MAX_UDP_BUFFERED_BYTES = 64 * 1024 * 1024;
/** Most `max_datagrams_per_sec` accepts. */
export const MAX_UDP_DATAGRAMS_PER_SECOND = 1_000_000;

/** The bounds of one UDP association, normalised (the same fields the relays take). */
export interface UdpLimits {
  /** Silence (both ways) that ends the association (`idle_timeout_secs`). */
  readonly idleTimeoutMs: number;
  /** Datagrams a second the association may send each way (`max_datagrams_per_sec`). */
  readonly maxDatagramsPerSecond: number;
  /** Bytes that may wait for the stream or socket, per direction (`max_buffered_bytes`). */
  readonly maxBufferedBytes: number;
}

/** The documented defaults: 2 minutes idle, 1000 datagrams a second, 256 KiB buffered. */
export const DEFAULT_UDP_LIMITS: UdpLimits = {
  idleTimeoutMs: UDP_IDLE_TIMEOUT_MS,
  maxDatagramsPerSecond: UDP_MAX_DATAGRAMS_PER_SECOND,
  maxBufferedBytes: UDP_MAX_BUFFERED_BYTES,
};

/** The `udp` object: every key optional, unknown keys refused. */
export const udpLimitsSchema = z.strictObject({
  idle_timeout_secs: durationSecsSchema({ allowZero: false }).prefault(
    UDP_IDLE_TIMEOUT_MS / 1000,
  ),
  max_datagrams_per_sec: countSchema(1, MAX_UDP_DATAGRAMS_PER_SECOND).default(
    UDP_MAX_DATAGRAMS_PER_SECOND,
  ),
  max_buffered_bytes: countSchema(MIN_UDP_BUFFERED_BYTES, MAX_UDP_BUFFERED_BYTES).default(
    UDP_MAX_BUFFERED_BYTES,
  ),
}).transform((raw): UdpLimits => ({
  idleTimeoutMs: raw.idle_timeout_secs,
  maxDatagramsPerSecond: raw.max_datagrams_per_sec,
  maxBufferedBytes: raw.max_buffered_bytes,
}));
