/**
 * The terminal UI's numbers, each with where it comes from.
 *
 * @module
 */

/** Redraws per second at most: events may arrive far faster; the eye needs no more. */
export const DEFAULT_MAX_FPS = 10;

/** Log lines kept for the Logs tab (older ones drop off). */
export const DEFAULT_LOG_LINES = 1_000;

/** How often bandwidth is sampled into the sparklines (the proxy reports bytes once a second). */
export const TICK_INTERVAL_MS = 1_000;

/** Samples kept per sparkline: a minute at one per second; the screen shows what fits. */
export const SPARK_SAMPLES = 60;

/** The Network tab asks the hub again after this long on screen (FindNodes is cheap, not free). */
export const CANDIDATES_REFRESH_MS = 10_000;

/** Unknown exits on the overview trigger a candidate refresh at most this often. */
export const CANDIDATES_MIN_INTERVAL_MS = 5_000;

/** How long an action's outcome stays in the status line. */
export const NOTICE_MS = 8_000;

/** How long the hub is given to list candidates before the tab says it did not answer. */
export const CANDIDATES_TIMEOUT_MS = 10_000;

/** How long Esc waits for the automatic choice before saying the search goes on. */
export const AUTOMATIC_WAIT_MS = 15_000;
