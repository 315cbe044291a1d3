/**
 * The log-line event sink: lifecycle events and problems as structured log
 * lines in the `p2proxy.events` category, never per-chunk data, with repeats
 * of the same problem counted instead of written.
 *
 * @module
 */
import { compareLogLevel, getLogger, type Logger, type LogLevel } from "@logtape/logtape";
import type { P2ProxyEvent } from "../../core/events.ts";
import type { EventSink } from "../../core/ports/event_sink.ts";
import { THROTTLE_KEYS_MAX, THROTTLE_WINDOW_MS } from "./constants.ts";
import { type EventLine, ruleOf } from "./event_lines.ts";
import { RepeatThrottle } from "./repeat_throttle.ts";

/** The logtape category of event lines. */
export const EVENTS_CATEGORY: readonly string[] = ["p2proxy", "events"];

/** Options of {@link LogEventSink}. */
export interface LogEventSinkOptions {
  /** Lowest level this sink writes, on top of the log configuration. Default `trace` (the configuration decides). */
  readonly level?: LogLevel;
  /** Window in which repeats of a problem line are counted. Default 10 s. */
  readonly throttleWindowMs?: number;
  /** Monotonic milliseconds, for the throttle. Default `performance.now`. */
  readonly now?: () => number;
  /** Where lines go. Default: the `p2proxy.events` logger. */
  readonly logger?: Logger;
}

interface PendingLine {
  readonly level: LogLevel;
  readonly line: EventLine;
}

/**
 * An `EventSink` writing log lines through logtape. Problem lines (error
 * events, refusals, failed streams and pings) are throttled per key: the
 * first is written, repeats within the window are counted, and the count is
 * written with the next one after the window (or by `flush()` at shutdown).
 *
 * @example
 * ```ts
 * const sink = new LogEventSink();
 * sink.emit({ type: "error", port: 1080, message: "No exit is available for port 1080." });
 * sink.flush(); // at shutdown: write the counts of swallowed repeats
 * ```
 */
export class LogEventSink implements EventSink {
  readonly #logger: Logger;
  readonly #lowest: LogLevel;
  readonly #now: () => number;
  readonly #throttle: RepeatThrottle<PendingLine>;

  /** A sink with these options (all optional). */
  constructor(options: LogEventSinkOptions = {}) {
    this.#logger = options.logger ?? getLogger([...EVENTS_CATEGORY]);
    this.#lowest = options.level ?? "trace";
    this.#now = options.now ?? (() => performance.now());
    this.#throttle = new RepeatThrottle(
      options.throttleWindowMs ?? THROTTLE_WINDOW_MS,
      THROTTLE_KEYS_MAX,
    );
  }

  /** Writes the event's line, if it has one at an enabled level. Never throws. */
  emit(event: P2ProxyEvent): void {
    const rule = ruleOf(event);
    if (rule === undefined || !this.#enabled(rule.level)) return;
    try {
      const line = rule.line(event);
      if (line !== undefined) this.#write(rule.level, line);
    } catch {
      // A log line is not worth an exception on the data plane; logtape reports its own sink failures.
    }
  }

  /** Writes the count of every problem line still being swallowed (call at shutdown). */
  flush(): void {
    for (const { suppressed, last } of this.#throttle.drain()) {
      write(
        this.#logger,
        last.level,
        `${last.line.message} (the last of {repeated} similar lines suppressed since the previous report)`,
        { ...last.line.properties, repeated: suppressed },
      );
    }
  }

  #enabled(level: LogLevel): boolean {
    return compareLogLevel(level, this.#lowest) >= 0 && this.#logger.isEnabledFor(level);
  }

  #write(level: LogLevel, line: EventLine): void {
    if (line.throttleKey === undefined) {
      return write(this.#logger, level, line.message, line.properties);
    }
    const verdict = this.#throttle.admit(line.throttleKey, this.#now(), { level, line });
    if (!verdict.write) return;
    if (verdict.suppressed === 0) return write(this.#logger, level, line.message, line.properties);
    write(
      this.#logger,
      level,
      `${line.message} ({repeated} similar lines suppressed since the previous report)`,
      { ...line.properties, repeated: verdict.suppressed },
    );
  }
}

function write(
  logger: Logger,
  level: LogLevel,
  message: string,
  properties: Readonly<Record<string, unknown>>,
): void {
  const props = properties as Record<string, unknown>;
  switch (level) {
    case "trace":
      return logger.trace(message, props);
    case "debug":
      return logger.debug(message, props);
    case "info":
      return logger.info(message, props);
    case "warning":
      return logger.warning(message, props);
    case "error":
      return logger.error(message, props);
    case "fatal":
      return logger.fatal(message, props);
  }
}
