/**
 * Small text formats of the terminal UI: short peer ids, rates, sparklines,
 * routes, and fitting text to a width.
 *
 * @module
 */
import { describeSource, type DestinationSource } from "../../core/events.ts";

/** Sparkline steps, lowest first (a space is "nothing"). */
const SPARK_STEPS = [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"];

/**
 * A peer id shortened to its start and end, which is how people tell them apart.
 *
 * @example
 * ```ts
 * shortPeerId("12D3KooWLt4bKs9x7Yq"); // "12D3Ko…x7Yq"
 * ```
 */
export function shortPeerId(peerId: string): string {
  return peerId.length <= 13 ? peerId : `${peerId.slice(0, 6)}…${peerId.slice(-4)}`;
}

/**
 * Bytes per second in the largest unit that keeps the number short.
 *
 * @example
 * ```ts
 * formatRate(1536); // "1.5 KB/s"
 * ```
 */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/**
 * A byte count in B, KB, MB, GB or TB (powers of 1024).
 *
 * @example
 * ```ts
 * formatBytes(3 * 1024 * 1024); // "3.0 MB"
 * ```
 */
export function formatBytes(bytes: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = Math.max(0, bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * Bits per second as a bandwidth is advertised.
 *
 * @example
 * ```ts
 * formatBandwidth(1_000_000_000); // "1 Gbps"
 * ```
 */
export function formatBandwidth(bitsPerSecond: number): string {
  for (const [unit, size] of [["Gbps", 1e9], ["Mbps", 1e6], ["kbps", 1e3]] as const) {
    if (bitsPerSecond >= size) return `${+(bitsPerSecond / size).toFixed(1)} ${unit}`;
  }
  return `${bitsPerSecond} bps`;
}

/**
 * The last `width` samples as a sparkline scaled to their largest value.
 *
 * @example
 * ```ts
 * sparkline([0, 1, 2, 4, 8], 5); // " ▁▂▄█"
 * ```
 */
export function sparkline(samples: readonly number[], width: number): string {
  if (width <= 0) return "";
  const shown = samples.slice(-width);
  const max = Math.max(0, ...shown);
  const line = shown.map((value) =>
    max === 0 || value <= 0
      ? SPARK_STEPS[0]!
      : SPARK_STEPS[Math.max(1, Math.round((value / max) * (SPARK_STEPS.length - 1)))]!
  ).join("");
  return line.padStart(width, " ");
}

/**
 * The transport of a multiaddr, as an operator names it.
 *
 * @example
 * ```ts
 * transportOf("/ip4/127.0.0.1/tcp/4001/p2p/12D3…"); // "tcp"
 * ```
 */
export function transportOf(address: string): string {
  if (address.includes("/quic-v1")) return "quic";
  if (address.includes("/webtransport")) return "webtransport";
  if (address.includes("/wss") || address.includes("/tls/ws")) return "wss";
  if (address.includes("/ws")) return "ws";
  if (address.includes("/tcp/")) return "tcp";
  return "?";
}

/** How an exit was chosen, as the admin API and the logs say it (`pinned[0]`, `manual`…). */
export function sourceLabel(source: DestinationSource): string {
  return describeSource(source);
}

/**
 * Round-trip time for a column: whole milliseconds, `-` when unknown.
 *
 * @example
 * ```ts
 * formatRtt(3.4); // "3 ms"
 * ```
 */
export function formatRtt(rttMs: number | undefined): string {
  return rttMs === undefined ? "-" : `${Math.max(0, Math.round(rttMs))} ms`;
}

/**
 * `text` cut to `width` characters (with `…` when cut) and padded to it.
 *
 * @example
 * ```ts
 * fit("Amsterdam", 6); // "Amste…"
 * ```
 */
export function fit(text: string, width: number): string {
  if (width <= 0) return "";
  const chars = [...text];
  if (chars.length > width) return `${chars.slice(0, width - 1).join("")}…`;
  return text + " ".repeat(width - chars.length);
}

/**
 * The time of day (UTC, as the log lines have it) of `at`.
 *
 * @example
 * ```ts
 * clockTime(Date.UTC(2026, 11, 7, 19, 8, 32)); // "19:08:32"
 * ```
 */
export function clockTime(at: number): string {
  return new Date(at).toISOString().slice(11, 19);
}

/**
 * How long ago, in the largest whole unit.
 *
 * @example
 * ```ts
 * ago(65_000); // "1 min ago"
 * ```
 */
export function ago(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  return `${Math.floor(minutes / 60)} h ago`;
}
