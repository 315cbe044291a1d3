import assert from "node:assert/strict";
import { clockCompliance } from "../../core/testing/compliance/clock.ts";
import { FakeClock } from "../../core/testing/fakes.ts";
import { plugin } from "./mod.ts";

const noRequires = {
  stateDir: ".",
  role: "demo" as const,
  get: () => assert.fail("clock-fake requires nothing"),
  find: () => assert.fail("clock-fake wants nothing"),
};

async function createClock(options: unknown = {}) {
  const instance = await plugin.create(plugin.options.parse(options), noRequires);
  return instance.provides.clock;
}

Deno.test("the clock-fake plugin's clock passes the clock compliance suite", (t) =>
  clockCompliance(t, async () => ({ clock: await createClock() })));

Deno.test("clock-fake starts at start_ms and moves only by sleeps", async () => {
  const clock = await createClock({ start_ms: 1_000 });
  assert.ok(clock instanceof FakeClock);
  assert.equal(clock.now(), 1_000);
  assert.equal(clock.now(), 1_000);
  await clock.sleep(30_000);
  assert.equal(clock.now(), 31_000);
});

Deno.test("clock-fake refuses a start before the epoch", () => {
  assert.equal(plugin.options.safeParse({ start_ms: -1 }).success, false);
  assert.equal(plugin.options.safeParse({ start_ms: 1.5 }).success, false);
});
