import assert from "node:assert/strict";
import { registryStoreCompliance } from "../../core/testing/compliance/registry_store.ts";
import { plugin } from "./mod.ts";

const noRequires = {
  stateDir: ".",
  role: "hub" as const,
  get: () => assert.fail("registry-memory requires nothing"),
  find: () => assert.fail("registry-memory wants nothing"),
};

Deno.test("the registry-memory plugin's store passes the registry store compliance suite", (t) =>
  registryStoreCompliance(t, async () => {
    const instance = await plugin.create(plugin.options.parse({}), noRequires);
    return { store: instance.provides["registry-store"], cleanup: () => instance.stop?.() };
  }));
