/**
 * Test helpers: capturing logtape records.
 *
 * @module
 */
import { configure, type LogLevel, type LogRecord, reset } from "@logtape/logtape";

/** Log records captured from the `p2proxy` category. */
export interface Capture {
  readonly records: LogRecord[];
  /** The records of the `p2proxy.events` category, rendered as text. */
  lines(): string[];
  /** Removes the capture (logtape back to unconfigured). */
  stop(): Promise<void>;
}

/** Routes `p2proxy` log records at `lowestLevel` and above into memory until `stop()`. */
export async function captureLogs(lowestLevel: LogLevel = "trace"): Promise<Capture> {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (record: LogRecord) => records.push(record) },
    loggers: [
      { category: ["p2proxy"], sinks: ["memory"], lowestLevel },
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
    ],
  });
  return {
    records,
    lines: () => records.map(render),
    stop: () => reset(),
  };
}

/** A record's message with its values filled in (strings bare, unlike the text formatter). */
export function render(record: LogRecord): string {
  return record.message.map((part, i) => i % 2 === 0 ? part : String(part)).join("");
}
