import assert from "node:assert/strict";
import {
  definitionProblems,
  PLUGIN_API_VERSION,
  type PluginDefinition,
} from "../../core/plugin/contract.ts";
import { planComposition } from "../../core/plugin/host.ts";
import { registryStoreCompliance } from "../../core/testing/compliance/registry_store.ts";
import { InMemoryRegistryStore } from "./memory_registry_store.ts";
import defaultExport, { plugin } from "./mod.ts";

// A concrete plugin is not assignable to the widest PluginDefinition (see plugins/builtin.ts).
const generic = plugin as unknown as PluginDefinition;
const ctx = { stateDir: "/var/lib/p2proxy", role: "hub" as const };
const noRequires = { ...ctx, get: () => assert.fail("registry-memory requires nothing") };

Deno.test("the registry-memory plugin's store passes the registry store compliance suite", (t) =>
  registryStoreCompliance(t, async () => {
    const instance = await plugin.create(plugin.options.parse({}), noRequires);
    return { store: instance.provides["registry-store"], cleanup: () => instance.stop?.() };
  }));

Deno.test("registry-memory is a valid plugin providing registry-store", async () => {
  assert.equal(defaultExport, plugin);
  assert.deepEqual(definitionProblems(generic), []);
  assert.equal(plugin.name, "@p2proxy/registry-memory");
  assert.equal(plugin.api, PLUGIN_API_VERSION);
  assert.deepEqual(plugin.provides, ["registry-store"]);
  const plan = planComposition({ plugins: [generic], needs: ["registry-store"] });
  assert.equal(plan.providers.get("registry-store"), plugin.name);
  const instance = await plugin.create({}, noRequires);
  assert.ok(instance.provides["registry-store"] instanceof InMemoryRegistryStore);
});

Deno.test("registry-memory takes no options and needs no permissions", () => {
  assert.deepEqual(plugin.options.parse({}), {});
  assert.equal(plugin.options.safeParse({ path: "x" }).success, false);
  assert.deepEqual(plugin.permissions?.({}, ctx), {});
});
