import assert from "node:assert/strict";
import {
  definitionProblems,
  PLUGIN_API_VERSION,
  type PluginDefinition,
} from "../../core/plugin/contract.ts";
import { planComposition } from "../../core/plugin/host.ts";
import { stickyStoreCompliance } from "../../core/testing/compliance/sticky_store.ts";
import { InMemoryStickyStore } from "./memory_sticky_store.ts";
import defaultExport, { plugin } from "./mod.ts";

// A concrete plugin is not assignable to the widest PluginDefinition (see plugins/builtin.ts).
const generic = plugin as unknown as PluginDefinition;
const ctx = { stateDir: "/var/lib/p2proxy", role: "proxy" as const };
const noRequires = { ...ctx, get: () => assert.fail("sticky-memory requires nothing") };

Deno.test("the sticky-memory plugin's store passes the sticky store compliance suite", (t) =>
  stickyStoreCompliance(t, async () => {
    const instance = await plugin.create(plugin.options.parse({}), noRequires);
    return { store: instance.provides["sticky-store"] };
  }));

Deno.test("sticky-memory is a valid plugin providing sticky-store", async () => {
  assert.equal(defaultExport, plugin);
  assert.deepEqual(definitionProblems(generic), []);
  assert.equal(plugin.name, "@p2proxy/sticky-memory");
  assert.equal(plugin.version, "0.1.0");
  assert.equal(plugin.api, PLUGIN_API_VERSION);
  assert.deepEqual(plugin.provides, ["sticky-store"]);
  const plan = planComposition({ plugins: [generic], needs: ["sticky-store"] });
  assert.equal(plan.providers.get("sticky-store"), plugin.name);
  const instance = await plugin.create({}, noRequires);
  assert.ok(instance.provides["sticky-store"] instanceof InMemoryStickyStore);
});

Deno.test("sticky-memory takes no options and needs no permissions", () => {
  assert.deepEqual(plugin.options.parse({}), {});
  assert.equal(plugin.options.safeParse({ file: "x" }).success, false);
  assert.deepEqual(plugin.permissions?.({}, ctx), {});
});
