import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { toConsoleLogLine } from "./_console.ts";

function record(message: readonly unknown[], category = ["p2proxy", "exit", "registrar"]) {
  return {
    category,
    level: "warning",
    message,
    rawMessage: "",
    properties: {},
    timestamp: 1_000,
  } as LogRecord;
}

Deno.test("a log record becomes one console line: values filled in, root category dropped", () => {
  assert.deepEqual(
    toConsoleLogLine(record(["Hub ", "12D3", " failed: ", new Error("no route"), " (", 3, ")"])),
    {
      at: 1_000,
      level: "warning",
      category: "exit.registrar",
      message: "Hub 12D3 failed: no route (3)",
    },
  );
  assert.equal(
    toConsoleLogLine(record(["got ", { a: [1] }, "\nsecond\u001b[31m line"], ["other"])).message,
    'got {"a":[1]} second [31m line',
    "objects as JSON, control characters out: one line, no terminal escapes",
  );
  assert.equal(toConsoleLogLine(record(["x"], ["other"])).category, "other");
});
