/**
 * A wait as log lines say it: `250 ms`, `1 s`, `1.5 s`, `2 min`.
 *
 * @module
 */

/**
 * `ms` as a short human duration: milliseconds below a second, seconds (one
 * decimal at most) below two minutes, else minutes (one decimal at most).
 *
 * @example
 * ```ts
 * formatDelay(2_000); // "2 s"
 * formatDelay(90_000); // "90 s"
 * formatDelay(150_000); // "2.5 min"
 * ```
 */
export function formatDelay(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return `${ms} ms`;
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${trim(ms / 1_000)} s`;
  return `${trim(ms / 60_000)} min`;
}

/** At most one decimal, none when it is zero. */
function trim(value: number): string {
  return String(Math.round(value * 10) / 10);
}
