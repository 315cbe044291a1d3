/**
 * Constants of the Prometheus adapter, each with where its value comes from.
 *
 * @module
 */

/** Prefix of every metric name: the anchor's, so existing dashboards keep working. */
export const METRIC_PREFIX = "p2proxy_";

/**
 * Buckets of `p2proxy_stream_acquire_duration_seconds`: from a loopback open
 * (a few ms) up to the default `pool.open_timeout_secs` of 20 s, so
 * timed-out opens land in the last finite bucket rather than only in `+Inf`.
 */
export const STREAM_ACQUIRE_BUCKETS_SECONDS: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  20,
];

/**
 * Buckets of `p2proxy_ping_rtt_seconds`: from a LAN round trip (1 ms) up to
 * the 10 s ping timeout (docs/proxy-behaviour.md#liveness).
 */
export const PING_RTT_BUCKETS_SECONDS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  10,
];

/**
 * Distinct values one free-text label (a stage, a failure code, a deny
 * reason) may take before further values are folded into `other`. The
 * emitters use closed sets far smaller than this; the cap only stops a future
 * emitter that puts text into a label from growing the series without bound.
 */
export const LABEL_VALUES_MAX = 32;

/** Longest label value kept as is; a longer one is folded into `other` (it is text, not a code). */
export const LABEL_VALUE_MAX_CHARS = 48;

/** The value a label takes when its real value was folded away. */
export const OTHER_LABEL_VALUE = "other";

/** Milliseconds per second, for the `*_seconds` metrics fed from `*Ms` event fields. */
export const MS_PER_SECOND = 1_000;
