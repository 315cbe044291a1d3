/**
 * Small statistics for the bench: percentiles of latency samples and the
 * units the report uses (MB = 10^6 bytes, GiB = 2^30 bytes).
 *
 * @module
 */

/** Bytes in a megabyte as the report prints it (decimal, like curl's speed). */
export const BYTES_PER_MB = 1_000_000;

/** Bytes in a gibibyte (the CPU-per-GiB figure). */
export const BYTES_PER_GIB = 1024 ** 3;

/** Bytes in a mebibyte (sizes on the command line). */
export const BYTES_PER_MIB = 1024 ** 2;

/**
 * The `p`-th percentile (0..100) by the nearest-rank method: the smallest
 * sample with at least p % of the samples at or below it. NaN when empty.
 */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`Percentile ${p} is not in 0..100.`);
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** The median (50th percentile, nearest rank). */
export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

/** Megabytes per second; NaN when no time passed. */
export function mbPerSecond(bytes: number, seconds: number): number {
  return seconds > 0 ? bytes / BYTES_PER_MB / seconds : NaN;
}

/** Parses a size such as `1GiB`, `64MiB`, `512KiB`, `1000` (bytes), `1.5GiB`. */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(b|kib|mib|gib|kb|mb|gb)?\s*$/i.exec(text);
  if (!match) {
    throw new Error(
      `Size "${text}" is not a number with an optional unit; use e.g. 1GiB, 64MiB or 1000000.`,
    );
  }
  const unit = (match[2] ?? "b").toLowerCase();
  const factor: Record<string, number> = {
    b: 1,
    kib: 1024,
    mib: 1024 ** 2,
    gib: 1024 ** 3,
    kb: 1e3,
    mb: 1e6,
    gb: 1e9,
  };
  const bytes = Math.round(Number(match[1]) * factor[unit]!);
  if (bytes < 1) throw new Error(`Size "${text}" is less than one byte.`);
  return bytes;
}
