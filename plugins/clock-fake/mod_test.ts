import assert from "node:assert/strict";
import {
  definitionProblems,
  PLUGIN_API_VERSION,
  type PluginDefinition,
} from "../../core/plugin/contract.ts";
import { planComposition } from "../../core/plugin/host.ts";
import { clockCompliance } from "../../core/testing/compliance/clock.ts";
import { FAKE_CLOCK_START_MS, FakeClock } from "../../core/testing/fakes.ts";
import defaultExport, { plugin } from "./mod.ts";

// A concrete plugin is not assignable to the widest PluginDefinition (see plugins/builtin.ts).
const generic = plugin as unknown as PluginDefinition;
const ctx = { stateDir: "/var/lib/p2proxy", role: "demo" as const };
const noRequires = { ...ctx, get: () => assert.fail("clock-fake requires nothing") };

async function createClock(options: unknown = {}) {
  const instance = await plugin.create(plugin.options.parse(options), noRequires);
  return instance.provides.clock;
}

Deno.test("the clock-fake plugin's clock passes the clock compliance suite", (t) =>
  clockCompliance(t, async () => ({ clock: await createClock() })));

Deno.test("clock-fake is a valid plugin providing clock", () => {
  assert.equal(defaultExport, plugin);
  assert.deepEqual(definitionProblems(generic), []);
  assert.equal(plugin.name, "@p2proxy/clock-fake");
  assert.equal(plugin.version, "0.1.0");
  assert.equal(plugin.api, PLUGIN_API_VERSION);
  assert.deepEqual(plugin.provides, ["clock"]);
  const plan = planComposition({ plugins: [generic], needs: ["clock"] });
  assert.equal(plan.providers.get("clock"), plugin.name);
});

Deno.test("clock-fake options default to the fake epoch and are strict", () => {
  assert.deepEqual(plugin.options.parse({}), { start_ms: FAKE_CLOCK_START_MS });
  assert.deepEqual(plugin.options.parse({ start_ms: 5 }), { start_ms: 5 });
  assert.equal(plugin.options.safeParse({ start_ms: -1 }).success, false);
  assert.equal(plugin.options.safeParse({ startMs: 5 }).success, false);
});

Deno.test("clock-fake needs no permissions", () => {
  assert.deepEqual(plugin.permissions?.(plugin.options.parse({}), ctx), {});
});

Deno.test("clock-fake starts at start_ms and moves only by sleeps", async () => {
  const clock = await createClock({ start_ms: 1_000 });
  assert.ok(clock instanceof FakeClock);
  assert.equal(clock.now(), 1_000);
  assert.equal(clock.now(), 1_000);
  await clock.sleep(30_000);
  assert.equal(clock.now(), 31_000);
});
