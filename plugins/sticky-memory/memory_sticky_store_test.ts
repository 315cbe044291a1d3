import assert from "node:assert/strict";
import { sampleRecord, stickyStoreCompliance } from "../../core/testing/compliance/sticky_store.ts";
import { InMemoryStickyStore } from "./memory_sticky_store.ts";
import { plugin } from "./mod.ts";

Deno.test("InMemoryStickyStore passes the sticky store compliance suite", (t) =>
  stickyStoreCompliance(t, () => ({ store: new InMemoryStickyStore() })));

Deno.test("InMemoryStickyStore starts from a copy of its initial record", async () => {
  const initial = sampleRecord(2);
  const store = new InMemoryStickyStore(initial);
  (initial.servers as Record<string, unknown>)["1080"] = undefined;
  assert.deepStrictEqual(await store.load(), sampleRecord(2));
});

Deno.test("the sticky-memory plugin's store passes the sticky store compliance suite", (t) =>
  stickyStoreCompliance(t, async () => {
    const instance = await plugin.create(plugin.options.parse({}), {
      stateDir: ".",
      role: "proxy",
      get: () => assert.fail("sticky-memory requires nothing"),
      find: () => assert.fail("sticky-memory wants nothing"),
    });
    return { store: instance.provides["sticky-store"] };
  }));
