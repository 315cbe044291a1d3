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

/** How many short sleeps the suite waits at most for a timer to run (a bound, not a measure). */
const TIMER_WAIT_SLEEPS = 40;

/**
 * Runs the `Clock` compliance steps: `now()` is a finite epoch time that never
 * goes backwards; `sleep(0)` and negative sleeps resolve; `sleep(ms)` lets at
 * least `ms` pass on `now()`; an aborted signal (before or during the sleep)
 * rejects with the signal's reason, and the aborted sleep leaves no global
 * `setTimeout` timer behind. Timers (`setTimer`) run once, never inside
 * `setTimer` and never before `ms` passed on `now()`, by the end of sleeps
 * past their deadline, in deadline order; a cancelled timer never runs and
 * leaves no global timer behind; cancelling twice or too late does nothing.
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

  await t.step(
    "a timer runs once, never inside setTimer and never before ms passed on now()",
    () =>
      withFixture(make, async ({ clock }) => {
        const setAt = clock.now();
        const ranAt: number[] = [];
        clock.setTimer(SHORT_SLEEP_MS, () => ranAt.push(clock.now()));
        assert.deepEqual(ranAt, [], "the callback ran inside setTimer");
        await sleepUntil(clock, () => ranAt.length > 0);
        assert.equal(ranAt.length, 1, `the timer of ${SHORT_SLEEP_MS} ms never ran`);
        const elapsed = (ranAt[0] ?? setAt) - setAt;
        assert.ok(
          elapsed >= SHORT_SLEEP_MS - TIMER_GRANULARITY_MS,
          `a timer of ${SHORT_SLEEP_MS} ms ran after ${elapsed} ms of now()`,
        );
        await clock.sleep(SHORT_SLEEP_MS * 2);
        assert.equal(ranAt.length, 1, "the timer ran more than once");
      }),
  );

  await t.step(
    "timers of 0 ms and negative delays run",
    () =>
      withFixture(make, async ({ clock }) => {
        const ran: string[] = [];
        clock.setTimer(0, () => ran.push("zero"));
        clock.setTimer(-5, () => ran.push("negative"));
        assert.deepEqual(ran, [], "a callback ran inside setTimer");
        await sleepUntil(clock, () => ran.length === 2);
        assert.deepEqual(ran.sort(), ["negative", "zero"]);
      }),
  );

  await t.step(
    "timers run in the order of their deadlines",
    () =>
      withFixture(make, async ({ clock }) => {
        const ran: number[] = [];
        for (const ms of [3 * SHORT_SLEEP_MS, SHORT_SLEEP_MS, 2 * SHORT_SLEEP_MS]) {
          clock.setTimer(ms, () => ran.push(ms));
        }
        await sleepUntil(clock, () => ran.length === 3);
        assert.deepEqual(ran, [SHORT_SLEEP_MS, 2 * SHORT_SLEEP_MS, 3 * SHORT_SLEEP_MS]);
      }),
  );

  await t.step(
    "a cancelled timer never runs and leaves no timer",
    () =>
      withFixture(make, async ({ clock }) => {
        let ran = 0;
        const { leaked } = await watchTimers(() => {
          clock.setTimer(ABORTED_SLEEP_MS, () => ran++).cancel();
          return Promise.resolve();
        });
        assert.equal(leaked, 0, "a cancelled timer left its global timer running: clear it");
        const soon = clock.setTimer(SHORT_SLEEP_MS, () => ran++);
        soon.cancel();
        let witness = false;
        clock.setTimer(2 * SHORT_SLEEP_MS, () => (witness = true));
        await sleepUntil(clock, () => witness);
        assert.ok(witness, "a later timer never ran, so time never passed the cancelled one");
        assert.equal(ran, 0, "a cancelled timer ran");
      }),
  );

  await t.step(
    "cancelling twice, or after the timer ran, does nothing",
    () =>
      withFixture(make, async ({ clock }) => {
        let ran = 0;
        const timer = clock.setTimer(0, () => ran++);
        await sleepUntil(clock, () => ran > 0);
        timer.cancel();
        timer.cancel();
        const other = clock.setTimer(ABORTED_SLEEP_MS, () => ran++);
        other.cancel();
        other.cancel();
        assert.equal(ran, 1);
      }),
  );
}

/**
 * Sleeps in short steps until `done()` holds, at most {@link TIMER_WAIT_SLEEPS}
 * times: a real clock's timer runs during the sleeps, a fake clock's when a
 * sleep moves its time past the deadline.
 */
async function sleepUntil(clock: Clock, done: () => boolean): Promise<void> {
  for (let i = 0; i < TIMER_WAIT_SLEEPS && !done(); i++) await clock.sleep(SHORT_SLEEP_MS);
}
