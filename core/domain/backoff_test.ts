import { deepEqual, equal } from "node:assert/strict";
import fc from "fast-check";
import { Backoff } from "./backoff.ts";
import {
  BACKGROUND_RETRY_FACTOR,
  BACKGROUND_RETRY_INITIAL_MS,
  BACKGROUND_RETRY_MAX_MS,
  STICKY_RECONNECT_FACTOR,
  STICKY_RECONNECT_INITIAL_MS,
  STICKY_RECONNECT_MAX_MS,
} from "./constants.ts";

function take(backoff: Backoff, count: number): number[] {
  return Array.from({ length: count }, () => backoff.next());
}

Deno.test("Backoff", async (t) => {
  await t.step("the background retry doubles from 1 s and caps at 30 s", () => {
    const backoff = new Backoff(
      BACKGROUND_RETRY_INITIAL_MS,
      BACKGROUND_RETRY_FACTOR,
      BACKGROUND_RETRY_MAX_MS,
    );
    deepEqual(take(backoff, 8), [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  });

  await t.step("the sticky reconnect pauses 1 s then 2 s", () => {
    const backoff = new Backoff(
      STICKY_RECONNECT_INITIAL_MS,
      STICKY_RECONNECT_FACTOR,
      STICKY_RECONNECT_MAX_MS,
    );
    deepEqual(take(backoff, 2), [1_000, 2_000]);
  });

  await t.step("reset starts over from the initial delay", () => {
    const backoff = new Backoff(1_000, 2, 8_000);
    take(backoff, 3);
    backoff.reset();
    equal(backoff.next(), 1_000);
  });

  await t.step("a factor below 1 keeps the delay constant", () => {
    deepEqual(take(new Backoff(500, 0, 8_000), 3), [500, 500, 500]);
    deepEqual(take(new Backoff(500, 0.5, 8_000), 3), [500, 500, 500]);
  });

  await t.step("an initial delay above the cap is capped", () => {
    deepEqual(take(new Backoff(10_000, 2, 3_000), 2), [3_000, 3_000]);
  });

  await t.step("nonsense durations become 0", () => {
    deepEqual(take(new Backoff(-5, 2, Number.NaN), 2), [0, 0]);
  });

  await t.step("delays never shrink and never pass the cap", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100_000 }),
        fc.double({ min: 0, max: 10, noNaN: true }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.integer({ min: 1, max: 50 }),
        (initialMs, factor, maxMs, count) => {
          const delays = take(new Backoff(initialMs, factor, maxMs), count);
          delays.forEach((delay, i) => {
            if (delay > maxMs) throw new Error(`delay ${delay} passed the cap ${maxMs}`);
            const previous = delays[i - 1];
            if (previous !== undefined && delay < previous) {
              throw new Error(`delay shrank from ${previous} to ${delay}`);
            }
          });
        },
      ),
    );
  });
});
