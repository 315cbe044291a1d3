/**
 * The Deno KV quota store: the compliance suite with a reopen and a peer (a second handle on the
 * same database file, as a second proxy process opens it), past periods swept, a clear error when
 * the database cannot open.
 *
 * @module
 */
import assert from "node:assert/strict";
import { quotaStoreCompliance } from "../../core/testing/compliance/quota_store.ts";
import type { QuotaStore } from "../../core/ports/quota_store.ts";
import { KvQuotaStore, plugin, QUOTA_KV_PREFIX } from "./mod.ts";

const contextFor = (stateDir: string) => ({
  stateDir,
  role: "proxy" as const,
  get: () => assert.fail("quota-kv requires nothing"),
  find: () => assert.fail("quota-kv wants nothing"),
});

Deno.test("the quota-kv plugin's store passes the quota store compliance suite", (t) =>
  quotaStoreCompliance(t, async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "p2proxy-quota-kv-" });
    const create = () => plugin.create(plugin.options.parse({}), contextFor(stateDir));
    const instances = [await create()];
    const another = async (): Promise<QuotaStore> => {
      const instance = await create();
      instances.push(instance);
      return instance.provides["quota-store"];
    };
    return {
      store: instances[0]!.provides["quota-store"],
      reopen: another,
      peer: another,
      cleanup: async () => {
        for (const instance of instances) await instance.stop?.();
        await Deno.remove(stateDir, { recursive: true });
      },
    };
  }));

Deno.test("quota-kv deletes the totals of periods that ended over a week ago", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "p2proxy-quota-kv-" });
  const path = `${stateDir}/quota.kv`;
  try {
    const seed = await Deno.openKv(path);
    await seed.set([...QUOTA_KV_PREFIX, "day:2026-11-20", "1080/old"], new Deno.KvU64(5n));
    await seed.set([...QUOTA_KV_PREFIX, "month:2026-11", "1080/recent"], new Deno.KvU64(6n));
    await seed.set([...QUOTA_KV_PREFIX, "not-a-period", "1080/junk"], new Deno.KvU64(7n));
    seed.close();
    const store = new KvQuotaStore(await Deno.openKv(path), path, () => Date.UTC(2026, 11, 5));
    await store.add([{ account: "1080/alice", period: "month:2026-12", bytes: 1 }]);
    await store.close(); // after the sweep the add started
    const kv = await Deno.openKv(path);
    const left = [];
    for await (const entry of kv.list({ prefix: [...QUOTA_KV_PREFIX] })) {
      left.push(entry.key.slice(QUOTA_KV_PREFIX.length).join(" "));
    }
    kv.close();
    assert.deepEqual(left.sort(), ["month:2026-11 1080/recent", "month:2026-12 1080/alice"]);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("quota-kv create() fails clearly when the database cannot open", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "p2proxy-quota-kv-" });
  try {
    await assert.rejects(
      Promise.resolve(plugin.create({ path: "no/such/dir/x.kv" }, contextFor(stateDir))),
      /Could not open the Deno KV quota store/,
    );
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});
