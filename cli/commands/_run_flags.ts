/**
 * The flags every long-running command takes (proxy, exit, hub, auth serve,
 * demo), defined once so that the commands cannot drift apart. The CLI reads
 * them before the command runs (see `program.ts`) to set up logging.
 *
 * @module
 */
import { type Command, Option } from "commander";
import { LOG_FORMAT_ENV, LOG_FORMATS, LOG_LEVELS, type LogFormat } from "../logging.ts";

/** The parsed flags of {@link addRunFlags}. */
export interface RunFlags {
  /** `--log-level`: overrides `log_level` (config, `P2PROXY_LOG_LEVEL`). */
  readonly logLevel?: string;
  /** `--log-format`: overrides `P2PROXY_LOG_FORMAT`; default `text`. */
  readonly logFormat?: LogFormat;
  /**
   * False with `--no-ui`: no terminal UI, plain log lines. Without a terminal
   * on stdin and stdout there is no UI either.
   */
  readonly ui: boolean;
}

/**
 * Adds `--log-level`, `--log-format` and `--no-ui` to a long-running command.
 *
 * @example
 * ```ts
 * addRunFlags(program.command("proxy")).action((options: RunFlags) => {});
 * ```
 */
export function addRunFlags(command: Command): Command {
  return command
    .addOption(
      new Option("--log-level <level>", "lowest level logged (overrides `log_level`)")
        .choices([...LOG_LEVELS]),
    )
    .addOption(
      new Option(
        "--log-format <format>",
        `log lines as text, or as JSON lines (one object per line); env ${LOG_FORMAT_ENV}`,
      ).choices([...LOG_FORMATS]),
    )
    .option(
      "--no-ui",
      "no terminal UI: plain log lines on stderr (the default when stdin or stdout is not a terminal)",
    );
}

/** True when `command` was built with {@link addRunFlags}. */
export function takesRunFlags(command: Command): boolean {
  return command.options.some((option) => option.long === "--log-format");
}
