/**
 * Constants of the log-line event sink, each with where its value comes from.
 *
 * @module
 */

/**
 * Window in which repeats of the same problem line are counted instead of
 * written: a port flapping every second writes one line per 10 s, not ten.
 */
export const THROTTLE_WINDOW_MS = 10_000;

/**
 * Distinct problem lines the throttle remembers at once. Keys are built from
 * closed sets (port, peer, reason), so this is far above a real node's needs;
 * it bounds memory if something floods distinct keys.
 */
export const THROTTLE_KEYS_MAX = 1_024;

/**
 * Longest text (message, target, address) copied into a line; longer text is
 * cut with an ellipsis. A destination name is at most 255 bytes (RFC 1928),
 * so real values fit; the cap stops a pathological message from becoming a
 * megabyte line.
 */
export const LOGGED_TEXT_MAX_CHARS = 512;
