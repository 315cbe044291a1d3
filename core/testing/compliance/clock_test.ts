import assert from "node:assert/strict";
import type { Clock } from "../../ports/clock.ts";
import { FakeClock } from "../fakes.ts";
import { clockCompliance } from "./clock.ts";
import { recordingContext } from "./_recording_context.ts";
import { watchTimers } from "./_harness.ts";

Deno.test("FakeClock passes the clock compliance suite", (t) =>
  clockCompliance(t, () => ({ clock: new FakeClock() })));

/** A clock that never uses a real timer, with one behaviour broken by `override`. */
function brokenClock(override: Partial<Clock>): Clock {
  const base = new FakeClock();
  return {
    now: override.now ?? (() => base.now()),
    sleep: override.sleep ?? ((ms, signal) => base.sleep(ms, signal)),
    setTimer: override.setTimer ?? ((ms, callback) => base.setTimer(ms, callback)),
  };
}

Deno.test("the clock suite fails a clock that goes backwards", async () => {
  let tick = 1_000_000;
  const recording = recordingContext();
  await clockCompliance(recording.t, () => ({ clock: brokenClock({ now: () => tick-- }) }));
  assert.ok(recording.failed().includes("now() never goes backwards"), recording.failed().join());
});

Deno.test("the clock suite fails a clock that rejects aborts with its own error", async () => {
  const recording = recordingContext();
  await clockCompliance(recording.t, () => {
    const base = new FakeClock();
    const sleep = (ms: number, signal?: AbortSignal) =>
      base.sleep(ms, signal).catch(() => Promise.reject(new Error("aborted")));
    return {
      clock: brokenClock({
        now: () => base.now(),
        sleep,
        setTimer: (ms, callback) => base.setTimer(ms, callback),
      }),
    };
  });
  assert.deepEqual(recording.failed(), [
    "an already aborted signal rejects with its reason",
    "an abort during sleep rejects with its reason and leaves no timer",
  ]);
});

Deno.test("the clock suite fails a clock whose sleep does not let time pass", async () => {
  const recording = recordingContext();
  await clockCompliance(recording.t, () => ({
    clock: brokenClock({ now: () => 5, sleep: () => Promise.resolve() }),
  }));
  assert.ok(recording.failed().includes("sleep(ms) lets at least ms pass on now()"));
});

Deno.test("the clock suite releases every fixture it makes", async () => {
  let made = 0;
  let released = 0;
  const recording = recordingContext();
  await clockCompliance(recording.t, () => {
    made++;
    return { clock: new FakeClock(), cleanup: () => void released++ };
  });
  assert.ok(made > 0);
  assert.equal(released, made);
  assert.deepEqual(recording.failed(), []);
});

Deno.test("the clock suite fails a clock that leaves its timer running on abort", async () => {
  const recording = recordingContext();
  const leaky: Clock = {
    now: () => Date.now(),
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason);
        setTimeout(resolve, Math.max(0, ms));
        signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
      }),
    setTimer: (ms, callback) => {
      const id = setTimeout(callback, Math.max(0, ms));
      return { cancel: () => clearTimeout(id) };
    },
  };
  await clockCompliance(recording.t, () => ({ clock: leaky }));
  assert.deepEqual(recording.failed(), [
    "an abort during sleep rejects with its reason and leaves no timer",
  ]);
});

/** A FakeClock whose timers are replaced by `setTimer`, built over that same clock. */
function brokenTimers(setTimer: (base: FakeClock) => Clock["setTimer"]): Clock {
  const base = new FakeClock();
  return brokenClock({
    now: () => base.now(),
    sleep: (ms, signal) => base.sleep(ms, signal),
    setTimer: setTimer(base),
  });
}

/** The suite's timer steps, by name. */
const RUNS_ONCE = "a timer runs once, never inside setTimer and never before ms passed on now()";
const ZERO_AND_NEGATIVE = "timers of 0 ms and negative delays run";
const IN_ORDER = "timers run in the order of their deadlines";
const CANCELLED = "a cancelled timer never runs and leaves no timer";

Deno.test("the clock suite fails a clock whose timer runs before its time", async () => {
  const recording = recordingContext();
  await clockCompliance(recording.t, () => ({
    clock: brokenTimers((base) => (_ms, callback) => base.setTimer(0, callback)),
  }));
  assert.deepEqual(recording.failed(), [RUNS_ONCE, IN_ORDER]);
});

Deno.test("the clock suite fails a clock whose timer runs inside setTimer", async () => {
  const recording = recordingContext();
  await clockCompliance(recording.t, () => ({
    clock: brokenTimers(() => (_ms, callback) => {
      callback();
      return { cancel: () => {} };
    }),
  }));
  const failed = recording.failed();
  assert.ok(failed.includes(RUNS_ONCE) && failed.includes(ZERO_AND_NEGATIVE), failed.join());
});

Deno.test("the clock suite fails a clock whose timer never runs", async () => {
  const recording = recordingContext();
  await clockCompliance(recording.t, () => ({
    clock: brokenTimers(() => () => ({ cancel: () => {} })),
  }));
  assert.deepEqual(recording.failed(), [
    RUNS_ONCE,
    ZERO_AND_NEGATIVE,
    IN_ORDER,
    CANCELLED,
    "cancelling twice, or after the timer ran, does nothing",
  ]);
});

Deno.test("the clock suite fails a clock whose cancel does nothing", async () => {
  const recording = recordingContext();
  await clockCompliance(recording.t, () => ({
    clock: brokenTimers((base) => (ms, callback) => {
      base.setTimer(ms, callback);
      return { cancel: () => {} };
    }),
  }));
  assert.deepEqual(recording.failed(), [CANCELLED]);
});

Deno.test("the clock suite fails a clock whose cancelled timer leaves its global timer running", async () => {
  const recording = recordingContext();
  const sleep = (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, Math.max(0, ms));
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  const leaky: Clock = {
    now: () => Date.now(),
    sleep,
    // Cancelling only mutes the callback: the global timer stays pending.
    setTimer: (ms, callback) => {
      let cancelled = false;
      setTimeout(() => cancelled || callback(), Math.max(0, ms));
      return { cancel: () => void (cancelled = true) };
    },
  };
  // watchTimers clears what the leaky clock leaves behind, so this test itself leaks nothing.
  await watchTimers(() => clockCompliance(recording.t, () => ({ clock: leaky })));
  assert.deepEqual(recording.failed(), [CANCELLED]);
});
