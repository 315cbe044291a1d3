import assert from "node:assert/strict";
import type { Clock } from "../../ports/clock.ts";
import { FakeClock } from "../fakes.ts";
import { clockCompliance } from "./clock.ts";
import { recordingContext } from "./_recording_context.ts";

Deno.test("FakeClock passes the clock compliance suite", (t) =>
  clockCompliance(t, () => ({ clock: new FakeClock() })));

/** A clock that never uses a real timer, with one behaviour broken by `override`. */
function brokenClock(override: Partial<Clock>): Clock {
  const base = new FakeClock();
  return {
    now: override.now ?? (() => base.now()),
    sleep: override.sleep ?? ((ms, signal) => base.sleep(ms, signal)),
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
    return { clock: brokenClock({ now: () => base.now(), sleep }) };
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
  };
  await clockCompliance(recording.t, () => ({ clock: leaky }));
  assert.deepEqual(recording.failed(), [
    "an abort during sleep rejects with its reason and leaves no timer",
  ]);
});
