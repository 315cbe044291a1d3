/**
 * `@p2proxy/tui-ink`: the live terminal UI of proxy, exit, hub and demo
 * (docs/operations.md#terminal-ui), built with ink and react. It is an event
 * sink like the log and metrics plugins — the screen is made of the events
 * the node already emits and its log lines, nothing polls internals — and the
 * `operator-console` the CLI opens when stdout and stdin are terminals (unless
 * `--no-ui`). On a proxy it chooses exits through the same exit control as
 * the admin API.
 *
 * Options: `max_fps` (default 10): redraws per second at most, however fast
 * events arrive; `log_lines` (default 1000): lines the Logs tab keeps.
 * Permissions: the variables ink, react and their colour detection read
 * (nothing else: the terminal is stdin and stdout).
 *
 * @module
 */
import { z } from "zod";
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import { DEFAULT_LOG_LINES, DEFAULT_MAX_FPS } from "./constants.ts";
import { InkConsole } from "./ink_console.ts";

export { InkConsole, type InkConsoleOptions } from "./ink_console.ts";

/**
 * What ink, react, chalk and terminal-size read from the environment: the
 * build mode (`NODE_ENV`), the terminal and colour support, CI detection,
 * ink's own switches, and the size fallback.
 */
export const TUI_ENV: readonly string[] = [
  "NODE_ENV",
  "TERM",
  "TERM_PROGRAM",
  "COLORTERM",
  "FORCE_COLOR",
  "NO_COLOR",
  "CI",
  "CONTINUOUS_INTEGRATION",
  "TF_BUILD",
  "DEV",
  "INK_SCREEN_READER",
  "COLUMNS",
  "LINES",
];

/** Options of `@p2proxy/tui-ink`. */
export const TuiInkOptions = z.object({
  /** Redraws per second at most. */
  max_fps: z.number().int().min(1).max(60).default(DEFAULT_MAX_FPS),
  /** Log lines the Logs tab keeps. */
  log_lines: z.number().int().min(100).max(100_000).default(DEFAULT_LOG_LINES),
}).strict();

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/tui-ink",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "The live terminal UI (Overview, Network, Logs; exit choice by hand), with ink.",
  provides: ["event-sink", "operator-console"],
  requires: ["clock"],
  options: TuiInkOptions,
  permissions: () => ({ env: [...TUI_ENV] }),
  create: (options, ctx) => {
    const console = new InkConsole({
      clock: ctx.get("clock"),
      maxFps: options.max_fps,
      maxLogLines: options.log_lines,
    });
    return { provides: { "event-sink": console, "operator-console": console } };
  },
});

export default plugin;
