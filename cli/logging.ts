/**
 * Log configuration. Libraries and plugins log through `@logtape/logtape`
 * categories under `p2proxy`; only the CLI decides where lines go: stderr,
 * as readable text (the default) or as JSON lines (`--log-format json` or
 * `P2PROXY_LOG_FORMAT=json`), one object per line through logtape's own
 * formatter.
 *
 * @module
 */
import {
  configure,
  getJsonLinesFormatter,
  getTextFormatter,
  type LogLevel,
  type LogRecord,
  reset,
  type Sink,
} from "@logtape/logtape";
import { CliExit, EXIT_BAD_USAGE } from "./exit_codes.ts";

/** Log levels accepted on the command line and in config (`log_level`). */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;

/** Log formats of `--log-format` / `P2PROXY_LOG_FORMAT`. */
export const LOG_FORMATS = ["text", "json"] as const;

/** A log format: `text` for people, `json` (JSON lines) for machines. */
export type LogFormat = typeof LOG_FORMATS[number];

/** The variable that chooses the log format when `--log-format` is not given. */
export const LOG_FORMAT_ENV = "P2PROXY_LOG_FORMAT";

/** The variable that sets the log level before a config is read. */
const LOG_LEVEL_ENV = "P2PROXY_LOG_LEVEL";

/** Config `log_level` spellings → logtape levels (logtape says "warning"). */
export function toLogtapeLevel(level: string): LogLevel {
  return level === "warn" ? "warning" : level as LogLevel;
}

/**
 * The format lines are written in: the one `configureLogging` was last given.
 * Logging is process-wide (logtape's configuration is too), so is this.
 */
let activeFormat: LogFormat = "text";

/**
 * Sends every `p2proxy` log line at `level` or above to stderr in `format`
 * (by default the format already in use: a role reconfigures the level once
 * its config is read, and keeps the format the command line chose).
 *
 * @example
 * ```ts
 * await configureLogging("debug", "json");
 * ```
 */
export async function configureLogging(
  level: string,
  format: LogFormat = activeFormat,
): Promise<void> {
  activeFormat = format;
  await configure({
    reset: true,
    sinks: { stderr: stderrSink(formatterFor(format)) },
    loggers: [
      { category: ["p2proxy"], lowestLevel: toLogtapeLevel(level), sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

/** Flushes and removes the log sinks (before exit). */
export async function shutdownLogging(): Promise<void> {
  await reset();
}

/** The format lines are written in now. */
export function currentLogFormat(): LogFormat {
  return activeFormat;
}

/**
 * The log format a long-running command uses: the flag, else
 * `P2PROXY_LOG_FORMAT`, else `text`. An unknown value in the variable is a
 * usage error naming it (commander has already checked the flag's value).
 *
 * @example
 * ```ts
 * const format = chooseLogFormat(undefined, (name) => Deno.env.get(name)); // "text" unless the env says json
 * ```
 */
export function chooseLogFormat(
  flag: string | undefined,
  env: (name: string) => string | undefined,
): LogFormat {
  const value = flag ?? env(LOG_FORMAT_ENV)?.trim().toLowerCase();
  if (value === undefined || value === "") return "text";
  const known = LOG_FORMATS.find((format) => format === value);
  if (known) return known;
  throw new CliExit(
    EXIT_BAD_USAGE,
    `${LOG_FORMAT_ENV}=${JSON.stringify(value)} is not a log format: use ${
      LOG_FORMATS.join(" or ")
    } (or pass --log-format).`,
  );
}

/**
 * The log level before a config is read: the flag, else `P2PROXY_LOG_LEVEL`,
 * else `info`. (A role's config may change it once read.)
 */
export function initialLogLevel(
  flag: string | undefined,
  env: (name: string) => string | undefined,
): string {
  const value = flag ?? env(LOG_LEVEL_ENV)?.trim().toLowerCase();
  if (value === "warning") return "warn";
  return LOG_LEVELS.find((level) => level === value) ?? "info";
}

/**
 * Reads a variable, or undefined when it is unset or not granted: a role may
 * run with `--allow-env` narrowed to the variables its config needs.
 */
export function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) return undefined;
    throw error;
  }
}

/**
 * The line that ends the CLI on an error: `p2proxy: <message>` as text, or
 * one JSON object at level `FATAL` (category `p2proxy.cli`) in JSON mode so
 * that a log shipper parses every line of stderr.
 *
 * @example
 * ```ts
 * fatalLine("Cannot listen on 127.0.0.1:1080: the address is in use.", "text");
 * // "p2proxy: Cannot listen on 127.0.0.1:1080: the address is in use.\n"
 * ```
 */
export function fatalLine(
  message: string,
  format: LogFormat,
  fields: Readonly<Record<string, unknown>> = {},
): string {
  if (format === "text") return `p2proxy: ${message}\n`;
  const record: LogRecord = {
    category: ["p2proxy", "cli"],
    level: "fatal",
    message: [message],
    rawMessage: message,
    properties: { ...fields },
    timestamp: Date.now(),
  };
  return JSON_FORMATTER(record);
}

/** Writes {@link fatalLine} to stderr in the current format. */
export function writeFatal(message: string, fields: Readonly<Record<string, unknown>> = {}): void {
  writeStderr(fatalLine(message, activeFormat, fields));
}

/**
 * JSON lines: `@timestamp` (ISO 8601, UTC), `level` (`TRACE` … `FATAL`,
 * `WARN` for warnings), `message` (rendered), `logger` (the category, dotted)
 * and `fields` (the structured properties).
 */
const JSON_FORMATTER = getJsonLinesFormatter({ properties: "nest:fields" });

/**
 * Text: time, level, category and the message, with string values shown
 * bare (no quotes) but with control characters and newlines escaped, so one
 * record stays one line.
 */
const TEXT_FORMATTER = getTextFormatter({ value: "bare" });

/** The formatter of `format`. */
export function formatterFor(format: LogFormat): (record: LogRecord) => string {
  return format === "json" ? JSON_FORMATTER : TEXT_FORMATTER;
}

const encoder = new TextEncoder();

/** Where log records go instead of stderr while a terminal UI is on screen. */
let redirect: ((record: LogRecord) => void) | undefined;

/**
 * Sends log records to `to` instead of stderr (the terminal UI's Logs tab
 * while it owns the screen); `undefined` sends them to stderr again.
 *
 * @example
 * ```ts
 * redirectLogs((record) => ui.log(toConsoleLogLine(record)));
 * // … the UI closes:
 * redirectLogs(undefined);
 * ```
 */
export function redirectLogs(to: ((record: LogRecord) => void) | undefined): void {
  redirect = to;
}

/**
 * Writes each line to stderr synchronously: no stream lock (so logging can be
 * reconfigured once the config is read) and nothing lost at exit. Log lines
 * are never on the data plane's path.
 */
function stderrSink(format: (record: LogRecord) => string): Sink {
  return (record) => redirect ? redirect(record) : writeStderr(format(record));
}

function writeStderr(text: string): void {
  try {
    Deno.stderr.writeSync(encoder.encode(text));
  } catch {
    // stderr is gone (closed pipe): nothing sensible is left to do with a log line.
  }
}
