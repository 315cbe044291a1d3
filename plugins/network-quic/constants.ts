/**
 * Tuning of the QUIC network plugin, each with where it comes from.
 *
 * @module
 */

/** The libp2p protocol a proxy asks an exit for its QUIC offer on (docs/wire-protocols.md#quic). */
export const QUIC_OFFER_PROTOCOL = "/p2proxy/quic/1.0.0";

/** ALPN protocol id of the QUIC endpoint: required on both sides by Deno's QUIC. */
export const QUIC_ALPN = "p2proxy/1";

/**
 * The name every exit's certificate is issued for. Deno adds pinned certificates to the
 * public roots rather than replacing them, and `.invalid` is a reserved top-level domain no
 * public authority may certify (RFC 2606): only the exit's own pinned certificate can match.
 */
export const QUIC_SERVER_NAME = "exit.p2proxy.invalid";

/** How long the exit's certificate is valid; a new one is made at every start. */
export const CERTIFICATE_LIFETIME_MS = 30 * 24 * 3600 * 1000;

/**
 * How long an exit waits, from the end of the TLS handshake, for a QUIC connection's first
 * stream to present its ticket before it closes the connection: "a few hundred ms" — an honest
 * proxy sends it in the same flight as its first packet after the handshake.
 */
export const HELLO_TIMEOUT_MS = 500;

/** QUIC connections an exit holds before their hello; more are refused (a cheap flood bound). */
export const MAX_UNADMITTED_CONNECTIONS = 64;

/**
 * Concurrent bidirectional streams one QUIC connection may carry: Deno's default is 100,
 * which would cap a proxy at 100 sessions per exit (TOOLCHAIN-NOTES); the exit's session
 * limit (`limits.max_sessions`, 4096 by default) is the real bound.
 */
export const MAX_STREAMS_PER_CONNECTION = 4096;

/** A connection with no packet for this long is dead (keep-alives keep a quiet one up). */
export const MAX_IDLE_TIMEOUT_MS = 30_000;

/** The proxy sends a keep-alive after this much quiet, well inside the idle timeout. */
export const KEEP_ALIVE_INTERVAL_MS = 10_000;

/**
 * How long a proxy waits to get an exit's offer and connect over QUIC before it falls back to
 * libp2p streams for that exit: over UDP that is blocked, no answer ever comes.
 */
export const QUIC_CONNECT_TIMEOUT_MS = 2_000;

/** How long an exit waits for a stream's header after the proxy opened it. */
export const STREAM_HEADER_TIMEOUT_MS = 10_000;

/**
 * Largest data frame on a QUIC stream. Writes above it are split; a declared length above it
 * resets the stream (the same order as the libp2p plugin's yamux window).
 */
export const MAX_DATA_FRAME_BYTES = 4 * 1024 * 1024;

/**
 * Writes up to this size are copied behind their frame header and sent as one write; larger ones
 * go as two writes (header, then the caller's buffer) rather than being copied.
 */
export const COALESCE_WRITE_BYTES = 16 * 1024;

/**
 * Smallest (and first) receive buffer of a QUIC stream: a CONNECT's messages and interactive
 * traffic fit; an idle stream holds no more. Reads that come back full double it.
 */
export const MIN_RECEIVE_BUFFER_BYTES = 4 * 1024;

/** Largest receive buffer of a QUIC stream (a bulk transfer's reads). */
export const MAX_RECEIVE_BUFFER_BYTES = 256 * 1024;

/**
 * A stream's send priority falls one step per this many bytes it sent (quic_stream.ts): the
 * size of the contiguous bursts streams take turns with. Small enough that a stream waiting
 * behind others is not kept long (200 streams × 64 KiB ≈ 13 MB), big enough that the proxy reads
 * and writes in large pieces.
 */
export const SEND_BURST_BYTES = 64 * 1024;
