/**
 * Constants of exit selection (docs/proxy-behaviour.md#timings). Each names its unit and says where
 * the value comes from; "anchor" is the Rust reference implementation
 * (`crates/core/src/domain/connect.rs` and the discovery actor).
 *
 * @module
 */

/** Candidates asked of the hub per discovery attempt. Anchor: `FINDNODES_DISCOVERY_LIMIT`. */
export const FIND_NODES_LIMIT = 25;

/** Discovery attempts (find + dial) in one connect before giving up. Anchor: `MAX_DISCOVERY_ATTEMPTS`. */
export const MAX_DISCOVERY_ATTEMPTS = 20;

/** Pause between discovery attempts. Anchor: the 1 s sleep on an empty or failed `FindNodes`. */
export const DISCOVERY_RETRY_INTERVAL_MS = 1_000;

/** Resolve-and-dial passes over the pinned list before a hard pin fails. Anchor: `MAX_PINNED_PASSES`. */
export const MAX_PINNED_PASSES = 20;

/** Pause between pinned passes. Anchor: the 1 s sleep at the end of a failed pass. */
export const PINNED_PASS_INTERVAL_MS = 1_000;

/**
 * Failed pinned passes before `fallback_to_discovery` hands over to discovery.
 * Anchor: it falls back right after the first failed pass, so a port that
 * opted into a changing egress IP is not dark for 20 s.
 */
export const PINNED_PASSES_BEFORE_FALLBACK = 1;

/** Attempts to reach a just-lost sticky exit before it is forgotten (`with-backoff`). Anchor: `STICKY_RECONNECT_ATTEMPTS`. */
export const STICKY_RECONNECT_ATTEMPTS = 3;

/** First pause between sticky reconnect attempts. Anchor: `Backoff::new(1 s, 2, 8 s)` in `reconnect_sticky_peer`. */
export const STICKY_RECONNECT_INITIAL_MS = 1_000;

/** Growth factor of the sticky reconnect pauses (1 s, then 2 s). Anchor: as above. */
export const STICKY_RECONNECT_FACTOR = 2;

/** Cap of the sticky reconnect pauses; never reached with 3 attempts. Anchor: as above. */
export const STICKY_RECONNECT_MAX_MS = 8_000;

/** First pause of the background retry after a connect gave up (1 s ×2 up to 30 s). */
export const BACKGROUND_RETRY_INITIAL_MS = 1_000;

/** Growth factor of the background retry. */
export const BACKGROUND_RETRY_FACTOR = 2;

/** Cap of the background retry pause: a dark port is retried at least this often. */
export const BACKGROUND_RETRY_MAX_MS = 30_000;

/**
 * Minimum time between two rediscoveries of one port after losses. Anchor: `REDISCOVERY_COOLDOWN`.
 */
export const REDISCOVERY_COOLDOWN_MS = 30_000;

/** How long a SOCKS connection waits for its port's exit to appear ("just-in-time"). */
export const JIT_WAIT_MS = 30_000;
