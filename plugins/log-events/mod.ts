/**
 * `@p2proxy/log-events`: p2proxy events as structured log lines (docs/operations.md#events),
 * in the `p2proxy.events` logtape category, so the CLI's log configuration
 * (stderr, text or JSON lines) decides where they go.
 *
 * Levels: lifecycle (peer id, connections, the active exit of each port with
 * its source badge, e.g. `pinned[0]`) at info; refusals (SOCKS, exit) at info;
 * error events, failed stream opens and missed pings at warn; sessions at
 * debug with their byte counts; per-connection events at trace; `bandwidth`
 * never. Repeats of the same problem within 10 s are counted and the count is
 * written with the next occurrence after that (and at shutdown).
 *
 * Options: `level` (default `trace`): the lowest level this sink writes, on
 * top of `log_level` — e.g. `info` keeps session lines out of a debug log.
 * Permissions: none.
 *
 * @module
 */
import { z } from "zod";
import { logLevelSchema } from "../../core/config/common.ts";
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import { LogEventSink } from "./log_event_sink.ts";

export { EVENTS_CATEGORY, LogEventSink, type LogEventSinkOptions } from "./log_event_sink.ts";
export { type EventLine, LINE_RULES, type LineRule } from "./event_lines.ts";
export { type PendingRepeats, RepeatThrottle, type ThrottleVerdict } from "./repeat_throttle.ts";

/** Options of `@p2proxy/log-events`. */
export const LogEventsOptions = z.object({
  /** Lowest level written (config spelling: trace, debug, info, warn, error, fatal). */
  level: logLevelSchema.default("trace"),
}).strict();

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/log-events",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "Events as structured log lines (p2proxy.events), with repeated problems throttled.",
  provides: ["event-sink"],
  options: LogEventsOptions,
  permissions: () => ({}),
  create: (options) => {
    const sink = new LogEventSink({ level: options.level === "warn" ? "warning" : options.level });
    return { provides: { "event-sink": sink }, stop: () => sink.flush() };
  },
});

export default plugin;
