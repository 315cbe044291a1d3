/**
 * Log configuration. Libraries and plugins log through `@logtape/logtape`
 * categories under `p2proxy`; only the CLI decides where lines go: stderr,
 * as text on a terminal or as JSON lines when asked (`--log-format json`).
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

/** Log levels accepted on the command line and in config (`log_level`). */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;

/** Config `log_level` spellings → logtape levels (logtape says "warning"). */
export function toLogtapeLevel(level: string): LogLevel {
  return level === "warn" ? "warning" : level as LogLevel;
}

/** Sends every `p2proxy` log line at `level` or above to stderr. */
export async function configureLogging(
  level: string,
  format: "text" | "json" = "text",
): Promise<void> {
  await configure({
    reset: true,
    sinks: {
      stderr: stderrSink(format === "json" ? getJsonLinesFormatter() : getTextFormatter()),
    },
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

const encoder = new TextEncoder();

/**
 * Writes each line to stderr synchronously: no stream lock (so logging can be
 * reconfigured once the config is read) and nothing lost at exit. Log lines
 * are never on the data plane's path.
 */
function stderrSink(format: (record: LogRecord) => string): Sink {
  return (record) => {
    try {
      Deno.stderr.writeSync(encoder.encode(format(record)));
    } catch {
      // stderr is gone (closed pipe): nothing sensible is left to do with a log line.
    }
  };
}
