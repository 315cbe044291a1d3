import assert from "node:assert/strict";
import {
  registryStoreCompliance,
  sampleRegistration,
} from "../../core/testing/compliance/registry_store.ts";
import { KvRegistryStore, REGISTRY_KV_PREFIX } from "./kv_registry_store.ts";
import { plugin, registryKvLocation } from "./mod.ts";

const ctx = { stateDir: "/var/lib/p2proxy", role: "hub" as const };
const contextFor = (stateDir: string) => ({
  stateDir,
  role: "hub" as const,
  get: () => assert.fail("registry-kv requires nothing"),
  find: () => assert.fail("registry-kv wants nothing"),
});

Deno.test("the registry-kv plugin's store passes the registry store compliance suite", (t) =>
  registryStoreCompliance(t, async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "p2proxy-registry-kv-" });
    const create = () => plugin.create(plugin.options.parse({}), contextFor(stateDir));
    const instances = [await create()];
    return {
      store: instances[0]!.provides["registry-store"],
      reopen: async () => {
        const instance = await create();
        instances.push(instance);
        return instance.provides["registry-store"];
      },
      cleanup: async () => {
        for (const instance of instances) await instance.stop?.();
        await Deno.remove(stateDir, { recursive: true });
      },
    };
  }));

Deno.test("registry-kv refuses an empty path and a URL without a host", () => {
  assert.equal(plugin.options.safeParse({ path: "" }).success, false);
  assert.equal(plugin.options.safeParse({ path: "https://" }).success, false);
});

Deno.test("registry-kv asks for exactly its database file (or URL host) and unstable kv", () => {
  assert.deepEqual(plugin.permissions?.(plugin.options.parse({}), ctx), {
    read: ["/var/lib/p2proxy/registry.kv"],
    write: ["/var/lib/p2proxy/registry.kv"],
    unstable: ["kv"],
  });
  assert.deepEqual(plugin.permissions?.({ path: ":memory:" }, ctx), { unstable: ["kv"] });
  assert.deepEqual(
    plugin.permissions?.({ path: "https://kv.example.com/databases/abc/connect" }, ctx),
    { net: ["kv.example.com"], env: ["DENO_KV_ACCESS_TOKEN"], unstable: ["kv"] },
  );
  assert.equal(registryKvLocation("/state", "/abs/x.kv"), "/abs/x.kv");
});

Deno.test("registry-kv skips entries that are not registrations", async () => {
  const kv = await Deno.openKv(":memory:");
  const store = new KvRegistryStore(kv, ":memory:");
  try {
    const good = sampleRegistration(1);
    await store.put(good);
    const bad = sampleRegistration(2);
    await kv.set([...REGISTRY_KV_PREFIX, bad.peerId], { ...bad, addresses: "nope" });
    await kv.set([...REGISTRY_KV_PREFIX, "someone-else"], sampleRegistration(3));
    assert.deepEqual(await store.list(), [good]);
    assert.equal(await store.get(bad.peerId), undefined);
  } finally {
    await store.close();
  }
});

Deno.test("registry-kv create() fails clearly when the database cannot open", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "p2proxy-registry-kv-" });
  try {
    await assert.rejects(
      Promise.resolve(plugin.create({ path: "no/such/dir/x.kv" }, contextFor(stateDir))),
      /Could not open the Deno KV registry/,
    );
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});
