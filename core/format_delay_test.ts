import assert from "node:assert/strict";
import fc from "fast-check";
import { formatDelay } from "./format_delay.ts";

Deno.test("formatDelay picks the unit a reader expects", () => {
  const cases: Array<[number, string]> = [
    [0, "0 ms"],
    [250, "250 ms"],
    [1_000, "1 s"],
    [1_500, "1.5 s"],
    [30_000, "30 s"],
    [119_999, "120 s"],
    [150_000, "2.5 min"],
    [600_000, "10 min"],
  ];
  for (const [ms, text] of cases) assert.equal(formatDelay(ms), text, String(ms));
});

Deno.test("formatDelay never throws and always names a unit", () => {
  fc.assert(fc.property(fc.double(), (ms) => {
    assert.match(formatDelay(ms), / (ms|s|min)$/);
  }));
});
