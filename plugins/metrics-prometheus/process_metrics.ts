/**
 * Metrics of the process itself, for every role: memory read at scrape time,
 * and the build.
 *
 * prom-client's `collectDefaultMetrics()` is not used: it reads `/proc/self`,
 * which Deno only allows with full permissions (TOOLCHAIN-NOTES.md);
 * `Deno.memoryUsage()` needs none.
 *
 * @module
 */
import { Gauge } from "prom-client";
import { METRIC_PREFIX } from "./constants.ts";
import { gauge, type MetricSet } from "./_metric_set.ts";

/**
 * `p2proxy_process_resident_memory_bytes`, `p2proxy_process_heap_used_bytes`
 * and `p2proxy_build_info{version,role}` (always 1). Feeds on no event.
 */
export const processMetrics: MetricSet = ({ registry, role, version }) => {
  gauge(
    registry,
    "process_resident_memory_bytes",
    "Resident set size of the process.",
    function () {
      this.set(Deno.memoryUsage().rss);
    },
  );
  gauge(registry, "process_heap_used_bytes", "V8 heap in use.", function () {
    this.set(Deno.memoryUsage().heapUsed);
  });
  new Gauge({
    name: `${METRIC_PREFIX}build_info`,
    help: "The p2proxy version and role of this process; always 1.",
    labelNames: ["version", "role"],
    registers: [registry],
  }).set({ version, role }, 1);
  return {};
};
