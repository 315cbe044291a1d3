/**
 * The file quota store: the compliance suite (with a reopen: counts survive a restart), the file
 * format the proxy has always written, and a bad file counting from zero.
 *
 * @module
 */
import assert from "node:assert/strict";
import { quotaStoreCompliance } from "../../core/testing/compliance/quota_store.ts";
import { StateFile } from "../../wire/state_file.ts";
import { FileQuotaStore, plugin } from "./mod.ts";

const contextFor = (stateDir: string) => ({
  stateDir,
  role: "proxy" as const,
  get: () => assert.fail("quota-file requires nothing"),
  find: () => assert.fail("quota-file wants nothing"),
});

Deno.test("the quota-file plugin's store passes the quota store compliance suite", (t) =>
  quotaStoreCompliance(t, async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "p2proxy-quota-file-" });
    const create = () => plugin.create(plugin.options.parse({}), contextFor(stateDir));
    const instances = [await create()];
    return {
      store: instances[0]!.provides["quota-store"],
      reopen: async () => {
        // A restart: the running store saves at stop, the next one reads the file.
        await instances.at(-1)!.stop?.();
        const instance = await create();
        instances.push(instance);
        return instance.provides["quota-store"];
      },
      cleanup: async () => {
        for (const instance of instances) await instance.stop?.();
        await Deno.remove(stateDir, { recursive: true });
      },
    };
  }));

Deno.test("quota-file writes usage_quota.json in the version-1 format, and only once counted", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "p2proxy-quota-file-" });
  const path = `${stateDir}/usage_quota.json`;
  try {
    const idle = await FileQuotaStore.open(new StateFile(path));
    await idle.add([{ account: "1080/alice", period: "day:2026-12-07", bytes: 0 }]);
    await idle.stop();
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound, "nothing counted, nothing written");
    const store = await FileQuotaStore.open(new StateFile(path));
    await store.add([{ account: "1080/alice", period: "day:2026-12-07", bytes: 42 }]);
    await store.add([{ account: "1080/alice", period: "day:2026-12-08", bytes: 7 }]);
    await store.stop();
    assert.deepEqual(JSON.parse(await Deno.readTextFile(path)), {
      version: 1,
      accounts: { "1080/alice": { period: "day:2026-12-08", bytes: 7 } },
    });
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("quota-file counts from zero over a bad file, and replaces it", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "p2proxy-quota-file-" });
  const path = `${stateDir}/usage_quota.json`;
  try {
    await Deno.writeTextFile(path, "{not json");
    const store = await FileQuotaStore.open(new StateFile(path));
    assert.deepEqual(
      await store.add([{ account: "1080/alice", period: "month:2026-12", bytes: 5 }]),
      [5],
    );
    await store.stop();
    assert.equal(JSON.parse(await Deno.readTextFile(path)).accounts["1080/alice"].bytes, 5);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});
