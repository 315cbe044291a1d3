/**
 * Tuning of the libp2p network plugin, each with where it comes from.
 *
 * @module
 */

/**
 * Concurrent streams per protocol per connection. js-libp2p defaults to 32
 * inbound / 64 outbound, which would cap a proxy at 32 sessions per exit; the
 * bench runs 1000 concurrent sessions through one exit (README, "Performance").
 */
export const MAX_STREAMS_PER_CONNECTION = 4096;

/**
 * yamux per-stream receive window ceiling. The default 16 MiB lets one
 * paused stream buffer 16 MiB; 4 MiB keeps loopback throughput near the
 * 16 MiB figure (TOOLCHAIN-NOTES: 254 vs 212 MB/s at the defaults) while
 * bounding memory per session.
 */
export const MAX_STREAM_WINDOW_BYTES = 4 * 1024 * 1024;

/**
 * A paused stream is reset when its read buffer passes this: it must exceed
 * the window, since a paused stream can still receive one full window.
 */
export const MAX_READ_BUFFER_BYTES = 2 * MAX_STREAM_WINDOW_BYTES;

/**
 * Bytes a stream adapter queues for a slow reader before pausing the stream
 * (which stops yamux window updates, so the remote stops sending).
 */
export const READ_HIGH_WATER_BYTES = 512 * 1024;

/** Below this many queued bytes a paused stream resumes. */
export const READ_LOW_WATER_BYTES = 128 * 1024;

/** How long one dial race may take before it counts as none-connected (the anchor's dial deadline). */
export const DIAL_TIMEOUT_MS = 10_000;

/** Open connections a node keeps; js-libp2p's default of 300 is low for a hub or a busy exit. */
export const MAX_CONNECTIONS = 2048;
