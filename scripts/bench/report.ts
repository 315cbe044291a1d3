/**
 * The bench's results as a Markdown table (for the terminal and the README)
 * next to the performance targets.
 *
 * @module
 */
import type { MachineInfo } from "./procstat.ts";

/** The performance targets (README, "Performance"). */
export const TARGETS = {
  /** Full chain throughput as a share of a raw libp2p stream (issue 13). */
  chainVsRawMin: 0.9,
  /** SOCKS CONNECT request → reply over a bare libp2p stream open + 1-byte echo (issue 13). */
  connectOverBareStreamMaxMs: 0.3,
  /** Median CONNECT + 1-byte echo through the proxy. */
  echoMedianMaxMs: 1.5,
  /** 200 concurrent sessions × 1 MiB, wall time. */
  concurrentMaxSeconds: 1.5,
  /** Peak RSS of the proxy and of the exit, each. */
  peakRssMaxMB: 250,
} as const;

/** One row of the table. */
export interface Row {
  readonly measurement: string;
  readonly result: string;
  readonly baseline: string;
  readonly ratio: string;
  readonly target: string;
  /** true = met, false = missed, undefined = no target. */
  readonly met?: boolean;
}

/** Formats a number with a fixed count of decimals, or "n/a". */
export function fixed(value: number | undefined, decimals: number): string {
  return value === undefined || !Number.isFinite(value) ? "n/a" : value.toFixed(decimals);
}

function verdict(met: boolean | undefined): string {
  if (met === undefined) return "";
  return met ? "✅" : "❌";
}

/** The table in GitHub Markdown. */
export function markdownTable(rows: readonly Row[]): string {
  const header = ["measurement", "result", "baseline (same run)", "ratio", "target", ""];
  const lines = [
    `| ${header.join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
    ...rows.map((r) =>
      `| ${[r.measurement, r.result, r.baseline, r.ratio, r.target, verdict(r.met)].join(" | ")} |`
    ),
  ];
  return lines.join("\n");
}

/** One line naming the machine, for above the table. */
export function machineLine(machine: MachineInfo): string {
  return `${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB RAM, ` +
    `Linux ${machine.kernel}, Deno ${machine.deno} (V8 ${machine.v8}), curl ${machine.curl}`;
}
