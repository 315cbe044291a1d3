/**
 * The operator console: a live view of a running node in its terminal, fed by
 * the node's events (it is an event sink like the others) and its log lines,
 * and — on a proxy — driving the exit choice through the same
 * {@link ExitControl} as the admin API (docs/operations.md#terminal-ui).
 *
 * @module
 */
import type { PeerId } from "../ids.ts";
import type { EventSink } from "./event_sink.ts";
import type { ExitControl, ListenerStatus } from "./exit_control.ts";

/** The roles a console has a view for. */
export type ConsoleRole = "proxy" | "exit" | "hub" | "demo";

/** Log levels as the console filters them, lowest first. */
export const CONSOLE_LOG_LEVELS = ["trace", "debug", "info", "warning", "error", "fatal"] as const;

/** A log level the console shows. */
export type ConsoleLogLevel = typeof CONSOLE_LOG_LEVELS[number];

/** One log line, already rendered. */
export interface ConsoleLogLine {
  /** When it was logged (ms since the epoch). */
  readonly at: number;
  /** Its level. */
  readonly level: ConsoleLogLevel;
  /** Its category without the `p2proxy` root, dotted: `discovery`, `exit.registrar`. */
  readonly category: string;
  /** The message with its values filled in. */
  readonly message: string;
}

/** What the console shows about the node it runs in. */
export interface ConsoleView {
  /** The role: decides the tabs and the overview. */
  readonly role: ConsoleRole;
  /** The node's peer id (the proxy's, in the demo). */
  readonly peerId?: PeerId;
  /** A proxy's listeners as they start (events keep them current afterwards). */
  readonly listeners?: readonly ListenerStatus[];
  /** A proxy's exit control: lists candidates, chooses by hand, returns to automatic. */
  readonly control?: ExitControl;
  /** Lines shown under the overview, e.g. the demo's addresses and a curl to try. */
  readonly notes?: readonly string[];
}

/** A console on screen. */
export interface ConsoleSession {
  /** Resolves when the operator quits (`q` or Ctrl-C); the terminal is already restored then. */
  readonly quit: Promise<void>;
  /** Takes the console off the screen and restores the terminal; safe to call twice. */
  close(): Promise<void>;
}

/**
 * A terminal console. Events arrive through `emit` from the start (so the
 * view is current when it opens); log lines through `log` while it is open.
 *
 * @example
 * ```ts
 * const ui = composition.find("operator-console");
 * if (ui?.supported()) {
 *   const session = await ui.open({ role: "proxy", control });
 *   await session.quit;
 * }
 * ```
 */
export interface OperatorConsole extends EventSink {
  /** True when this process's terminal can show it (stdin and stdout are terminals). */
  supported(): boolean;
  /** Takes one log line (the CLI routes log records here while the console is open). */
  log(line: ConsoleLogLine): void;
  /** Puts the console on screen; a second `open` before `close` throws (code `console-open`). */
  open(view: ConsoleView): Promise<ConsoleSession>;
}
