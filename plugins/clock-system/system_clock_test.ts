import assert from "node:assert/strict";
import { clockCompliance } from "../../core/testing/compliance/clock.ts";
import { SystemClock } from "./system_clock.ts";

Deno.test("SystemClock passes the clock compliance suite", (t) =>
  clockCompliance(t, () => ({ clock: new SystemClock() })));

Deno.test("SystemClock.now follows Date.now", () => {
  const before = Date.now();
  const now = new SystemClock().now();
  assert.ok(now >= before && now <= Date.now());
});

Deno.test("SystemClock rejects with the abort reason even when it is not an Error", async () => {
  const controller = new AbortController();
  const sleeping = new SystemClock().sleep(60_000, controller.signal);
  controller.abort("shutting down");
  await assert.rejects(sleeping, (reason) => reason === "shutting down");
});

Deno.test("SystemClock sleeps on one signal do not disturb each other", async () => {
  const clock = new SystemClock();
  const controller = new AbortController();
  await Promise.all([clock.sleep(1, controller.signal), clock.sleep(2, controller.signal)]);
  const pending = clock.sleep(60_000, controller.signal);
  controller.abort(new Error("stop"));
  await assert.rejects(pending, /stop/);
});
