import assert from "node:assert/strict";
import {
  definitionProblems,
  PLUGIN_API_VERSION,
  type PluginDefinition,
} from "../../core/plugin/contract.ts";
import { planComposition } from "../../core/plugin/host.ts";
import { SystemClock } from "./system_clock.ts";
import defaultExport, { plugin } from "./mod.ts";

// A concrete plugin is not assignable to the widest PluginDefinition (see plugins/builtin.ts).
const generic = plugin as unknown as PluginDefinition;
const ctx = { stateDir: "/var/lib/p2proxy", role: "proxy" as const };

Deno.test("clock-system is a valid plugin providing clock", () => {
  assert.equal(defaultExport, plugin);
  assert.deepEqual(definitionProblems(generic), []);
  assert.equal(plugin.name, "@p2proxy/clock-system");
  assert.equal(plugin.version, "0.1.0");
  assert.equal(plugin.api, PLUGIN_API_VERSION);
  assert.deepEqual(plugin.provides, ["clock"]);
  const plan = planComposition({ plugins: [generic], needs: ["clock"] });
  assert.equal(plan.providers.get("clock"), plugin.name);
});

Deno.test("clock-system takes no options and rejects unknown ones", () => {
  assert.deepEqual(plugin.options.parse({}), {});
  assert.equal(plugin.options.safeParse({ tick: 1 }).success, false);
});

Deno.test("clock-system needs no permissions", () => {
  assert.deepEqual(plugin.permissions?.(plugin.options.parse({}), ctx), {});
});

Deno.test("clock-system creates a SystemClock", async () => {
  const instance = await plugin.create({}, { ...ctx, get: () => assert.fail("no requires") });
  assert.ok(instance.provides.clock instanceof SystemClock);
});
