/**
 * The terminal UI for a role command: opened when the role's plugins provide
 * an `operator-console`, `--no-ui` was not given, and stdin and stdout are
 * terminals; otherwise the command writes plain log lines as before. While it
 * is on screen, log records go to its Logs tab instead of stderr.
 *
 * @module
 */
import { getLogger, type LogRecord } from "@logtape/logtape";
import type { Composition } from "../../core/plugin/host.ts";
import type {
  ConsoleLogLevel,
  ConsoleLogLine,
  ConsoleView,
} from "../../core/ports/operator_console.ts";
import { redirectLogs } from "../logging.ts";
import { waitForStopSignal } from "../shutdown.ts";

/** An open terminal UI, or the plain-log stand-in. */
export interface RoleConsole {
  /**
   * Resolves when the role should stop: the operator quit the UI (`q`,
   * Ctrl-C), or a SIGINT/SIGTERM arrived. The UI is closed (terminal restored,
   * logs back on stderr) before it resolves, so the shutdown lines are seen.
   */
  readonly stopRequested: Promise<void>;
  /** True when the UI is on screen (false: plain log lines). */
  readonly shown: boolean;
}

/**
 * Opens the role's terminal UI when it should be shown (see the module doc).
 *
 * @example
 * ```ts
 * const ui = await openRoleConsole(composition, flags.ui, { role: "hub" });
 * await ui.stopRequested;
 * ```
 */
export async function openRoleConsole(
  composition: Composition,
  wanted: boolean | undefined,
  view: ConsoleView,
): Promise<RoleConsole> {
  const ui = composition.find("operator-console");
  if (wanted === false || !ui?.supported()) {
    return { stopRequested: waitForStopSignal().then(() => {}), shown: false };
  }
  redirectLogs((record) => ui.log(toConsoleLogLine(record)));
  let session;
  try {
    session = await ui.open(view);
  } catch (error) {
    redirectLogs(undefined);
    throw error;
  }
  const quit = session.quit.then(() => "quit" as const);
  const stopRequested = Promise.race([quit, waitForStopSignal()]).then(async (why) => {
    await session.close();
    redirectLogs(undefined);
    if (why === "quit") getLogger(["p2proxy", "cli"]).info("Quit from the terminal UI: stopping.");
  });
  return { stopRequested, shown: true };
}

/** The `p2proxy` root is dropped from categories: every line has it. */
const ROOT = "p2proxy";

/**
 * A logtape record as the terminal UI shows it: its category without the
 * root, its message with the values filled in (strings bare, others as
 * JSON), on one line.
 *
 * @example
 * ```ts
 * toConsoleLogLine(record); // { at, level: "info", category: "discovery", message: "Port 1080 now leaves through …" }
 * ```
 */
export function toConsoleLogLine(record: LogRecord): ConsoleLogLine {
  const category = record.category[0] === ROOT ? record.category.slice(1) : record.category;
  const message = record.message
    .map((part, i) => i % 2 === 0 ? String(part) : renderValue(part))
    .join("")
    // deno-lint-ignore no-control-regex -- control characters are what this removes: one line each.
    .replaceAll(/[\u0000-\u001f\u007f]+/g, " ");
  const level: ConsoleLogLevel = record.level;
  return { at: record.timestamp, level, category: category.join("."), message };
}

function renderValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (value instanceof Error) return value.message;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
