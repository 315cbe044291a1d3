import assert from "node:assert/strict";
import fc from "fast-check";
import { RepeatThrottle } from "./repeat_throttle.ts";

const WINDOW_MS = 10_000;

Deno.test("the first occurrence is written, repeats in the window are counted", () => {
  const throttle = new RepeatThrottle<string>(WINDOW_MS, 16);
  assert.deepEqual(throttle.admit("a", 0, "a0"), { write: true, suppressed: 0 });
  assert.deepEqual(throttle.admit("a", 1, "a1"), { write: false });
  assert.deepEqual(throttle.admit("a", WINDOW_MS - 1, "a2"), { write: false });
  assert.deepEqual(
    throttle.admit("b", 5, "b0"),
    { write: true, suppressed: 0 },
    "keys are separate",
  );
  assert.deepEqual(throttle.admit("a", WINDOW_MS, "a3"), { write: true, suppressed: 2 });
  assert.deepEqual(throttle.admit("a", WINDOW_MS + 1, "a4"), { write: false }, "a new window");
  assert.deepEqual(throttle.admit("a", 3 * WINDOW_MS, "a5"), { write: true, suppressed: 1 });
  assert.deepEqual(throttle.admit("a", 10 * WINDOW_MS, "a6"), { write: true, suppressed: 0 });
});

Deno.test("drain hands back pending counts with the latest payload, once", () => {
  const throttle = new RepeatThrottle<string>(WINDOW_MS, 16);
  throttle.admit("a", 0, "a0");
  throttle.admit("a", 1, "a1");
  throttle.admit("a", 2, "a2");
  throttle.admit("b", 0, "b0");
  assert.deepEqual(throttle.drain(), [{ key: "a", suppressed: 2, last: "a2" }]);
  assert.deepEqual(throttle.drain(), []);
  assert.deepEqual(throttle.admit("a", WINDOW_MS, "a3"), { write: true, suppressed: 0 });
});

Deno.test("memory is bounded: the stalest key is forgotten first", () => {
  const throttle = new RepeatThrottle<number>(WINDOW_MS, 3);
  for (let i = 0; i < 10; i++) throttle.admit(`k${i}`, i, i);
  assert.equal(throttle.size, 3);
  assert.deepEqual(throttle.admit("k9", 20, 0), { write: false }, "a recent key is remembered");
  assert.deepEqual(throttle.admit("k0", 20, 0), { write: true, suppressed: 0 }, "k0 was forgotten");
  assert.equal(throttle.size, 3);
});

Deno.test("every occurrence is either written or counted exactly once (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom("a", "b", "c"), fc.integer({ min: 0, max: 4_000 }))),
      (steps) => {
        const throttle = new RepeatThrottle<number>(WINDOW_MS, 16);
        let now = 0;
        let written = 0;
        let counted = 0;
        const lastWrite = new Map<string, number>();
        for (const [key, advance] of steps) {
          now += advance;
          const verdict = throttle.admit(key, now, now);
          if (!verdict.write) continue;
          const previous = lastWrite.get(key);
          assert.ok(previous === undefined || now - previous >= WINDOW_MS, "one write per window");
          lastWrite.set(key, now);
          written++;
          counted += verdict.suppressed;
        }
        for (const pending of throttle.drain()) counted += pending.suppressed;
        assert.equal(written + counted, steps.length);
      },
    ),
  );
});
