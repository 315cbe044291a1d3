import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { CliExit, EXIT_BAD_USAGE } from "./exit_codes.ts";
import { chooseLogFormat, fatalLine, formatterFor, initialLogLevel } from "./logging.ts";

const noEnv = () => undefined;
const envOf = (values: Record<string, string>) => (name: string) => values[name];

/** A warning record `<before>{value}<after>` as a logger would make it. */
function record(before: string, value: unknown, after: string): LogRecord {
  return {
    category: ["p2proxy", "test"],
    level: "warning",
    message: [before, value, after],
    rawMessage: `${before}{value}${after}`,
    properties: { value },
    timestamp: Date.UTC(2026, 0, 2, 3, 4, 5),
  };
}

Deno.test("the log format: flag, else P2PROXY_LOG_FORMAT, else text; junk is bad usage", () => {
  assert.equal(chooseLogFormat(undefined, noEnv), "text");
  assert.equal(chooseLogFormat(undefined, envOf({ P2PROXY_LOG_FORMAT: " JSON " })), "json");
  assert.equal(chooseLogFormat("text", envOf({ P2PROXY_LOG_FORMAT: "json" })), "text");
  assert.throws(
    () => chooseLogFormat(undefined, envOf({ P2PROXY_LOG_FORMAT: "xml" })),
    (error) =>
      error instanceof CliExit && error.exitCode === EXIT_BAD_USAGE &&
      error.message.includes('P2PROXY_LOG_FORMAT="xml"') && error.message.includes("json"),
  );
});

Deno.test("the first log level: flag, else P2PROXY_LOG_LEVEL (warning = warn), else info", () => {
  assert.equal(initialLogLevel(undefined, noEnv), "info");
  assert.equal(initialLogLevel(undefined, envOf({ P2PROXY_LOG_LEVEL: "Warning" })), "warn");
  assert.equal(initialLogLevel("debug", envOf({ P2PROXY_LOG_LEVEL: "error" })), "debug");
  assert.equal(initialLogLevel(undefined, envOf({ P2PROXY_LOG_LEVEL: "loud" })), "info");
});

Deno.test("JSON lines: one object per record with time, level, category, message, fields", () => {
  const text = formatterFor("json")(record("Port ", 1080, " is slow"));
  assert.ok(text.endsWith("\n") && !text.slice(0, -1).includes("\n"), text);
  const line = JSON.parse(text);
  assert.deepEqual(line, {
    "@timestamp": "2026-01-02T03:04:05.000Z",
    level: "WARN",
    logger: "p2proxy.test",
    message: "Port 1080 is slow",
    fields: { value: 1080 },
  });
});

Deno.test("text lines show string values bare and keep one record on one line", () => {
  const text = formatterFor("text")(record("Cannot reach ", "hub\n  at x", ""));
  assert.match(text, /\[WRN\] p2proxy·test: Cannot reach hub\\n {2}at x\n$/);
  assert.equal(text.split("\n").length, 2, text);
});

Deno.test("the final error line: `p2proxy: …` as text, a FATAL object as JSON", () => {
  const message = "Cannot listen on [::1]:1080 (SOCKS5): in use; change `servers[0].port`.";
  assert.equal(fatalLine(message, "text"), `p2proxy: ${message}\n`);
  const line = JSON.parse(fatalLine(message, "json", { exitCode: 1, code: "address-in-use" }));
  assert.equal(line.level, "FATAL");
  assert.equal(line.logger, "p2proxy.cli");
  assert.equal(line.message, message);
  assert.deepEqual(line.fields, { exitCode: 1, code: "address-in-use" });
  assert.ok(!Number.isNaN(Date.parse(line["@timestamp"])));
});
