/**
 * Compliance suite of the `Clock` port: any clock, built-in or third-party,
 * runs it against itself.
 *
 * @example
 * ```ts
 * import { clockCompliance } from "@p2proxy/p2proxy/testing";
 *
 * Deno.test("my clock is a Clock", (t) => clockCompliance(t, () => ({ clock: new MyClock() })));
 * ```
 *
 * @module
 */
import type { TestContext } from "./_test_context.ts";
import assert from "node:assert/strict";
import type { Clock } from "../../ports/clock.ts";
import { type Awaitable, type Releasable, watchTimers, withFixture } from "./_harness.ts";

/** What a clock factory hands the suite. */
export interface ClockFixture extends Releasable {
  /** The clock under test. */
  readonly clock: Clock;
}

/** Readings of `now()` taken to check it never goes backwards. */
const MONOTONIC_READINGS = 200;

/** A sleep short enough to keep the suite fast, long enough to be measurable. */
const SHORT_SLEEP_MS = 25;

/** Slack for a real timer firing on a millisecond boundary a hair before `Date.now()` ticks. */
const TIMER_GRANULARITY_MS = 1;

/** A sleep the suite always aborts; long enough that a leaked timer is still pending when checked. */
const ABORTED_SLEEP_MS = 60_000;

/**
 * Runs the `Clock` compliance steps: `now()` is a finite epoch time that never
 * goes backwards; `sleep(0)` and negative sleeps resolve; `sleep(ms)` lets at
 * least `ms` pass on `now()`; an aborted signal (before or during the sleep)
 * rejects with the signal's reason, and the aborted sleep leaves no global
 * `setTimeout` timer behind.
 */
export async function clockCompliance(
  t: TestContext,
  make: () => Awaitable<ClockFixture>,
): Promise<void> {
  await t.step(
    "now() is a finite, non-negative epoch time",
    () =>
      withFixture(make, ({ clock }) => {
        const now = clock.now();
        assert.equal(typeof now, "number");
        assert.ok(Number.isFinite(now) && now >= 0, `now() returned ${now}`);
        return Promise.resolve();
      }),
  );

  await t.step("now() never goes backwards", () =>
    withFixture(make, async ({ clock }) => {
      let previous = clock.now();
      for (let i = 0; i < MONOTONIC_READINGS; i++) {
        if (i % 20 === 0) await clock.sleep(0);
        const current = clock.now();
        assert.ok(current >= previous, `now() went from ${previous} back to ${current}`);
        previous = current;
      }
    }));

  await t.step(
    "sleep(0) and a negative sleep resolve",
    () =>
      withFixture(make, async ({ clock }) => {
        assert.equal(await clock.sleep(0), undefined);
        assert.equal(await clock.sleep(-5), undefined);
      }),
  );

  await t.step(
    "sleep(ms) lets at least ms pass on now()",
    () =>
      withFixture(make, async ({ clock }) => {
        const before = clock.now();
        await clock.sleep(SHORT_SLEEP_MS);
        const elapsed = clock.now() - before;
        assert.ok(
          elapsed >= SHORT_SLEEP_MS - TIMER_GRANULARITY_MS,
          `sleep(${SHORT_SLEEP_MS}) returned after ${elapsed} ms of now()`,
        );
      }),
  );

  await t.step("concurrent sleeps all resolve", () =>
    withFixture(make, async ({ clock }) => {
      const results = await Promise.all([clock.sleep(3), clock.sleep(1), clock.sleep(0)]);
      assert.deepEqual(results, [undefined, undefined, undefined]);
    }));

  await t.step(
    "an already aborted signal rejects with its reason",
    () =>
      withFixture(make, async ({ clock }) => {
        const controller = new AbortController();
        const reason = new Error("compliance: aborted before sleeping");
        controller.abort(reason);
        await assert.rejects(clock.sleep(ABORTED_SLEEP_MS, controller.signal), (error) => {
          assert.equal(error, reason, "sleep must reject with the signal's reason");
          return true;
        });
      }),
  );

  await t.step(
    "an abort during sleep rejects with its reason and leaves no timer",
    () =>
      withFixture(make, async ({ clock }) => {
        const controller = new AbortController();
        const reason = new Error("compliance: aborted while sleeping");
        const { leaked } = await watchTimers(async () => {
          const sleeping = clock.sleep(ABORTED_SLEEP_MS, controller.signal);
          controller.abort(reason);
          await assert.rejects(sleeping, (error) => {
            assert.equal(error, reason, "sleep must reject with the signal's reason");
            return true;
          });
        });
        assert.equal(leaked, 0, "an aborted sleep left its timer running: clear it on abort");
      }),
  );

  await t.step(
    "an abort after the sleep resolved changes nothing",
    () =>
      withFixture(make, async ({ clock }) => {
        const controller = new AbortController();
        await clock.sleep(0, controller.signal);
        controller.abort(new Error("compliance: too late"));
        // A clock that still listens would reject a settled promise or throw here.
        await clock.sleep(0);
      }),
  );
}
