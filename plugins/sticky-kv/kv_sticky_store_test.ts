import assert from "node:assert/strict";
import { join } from "node:path";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { emptyStickyRecord, type StickyRecord } from "../../core/ports/sticky_store.ts";
import { aPeerId } from "../../core/testing/builders.ts";
import { sampleRecord, stickyStoreCompliance } from "../../core/testing/compliance/sticky_store.ts";
import { isP2proxyError } from "../../core/errors.ts";
import { KvStickyStore, STICKY_KV_PREFIX } from "./kv_sticky_store.ts";
import { renderPermissionFlags } from "../../core/plugin/permissions.ts";
import { runUnder } from "../../tests/_permission_probe.ts";
import { plugin, stickyKvLocation } from "./mod.ts";

/** Routes p2proxy logs into `records` until `stop()`. */
async function captureLogs() {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (record: LogRecord) => records.push(record) },
    loggers: [
      { category: ["p2proxy"], sinks: ["memory"], lowestLevel: "debug" },
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
    ],
  });
  const warnings = () => records.filter((r) => r.level === "warning");
  return { records, warnings, stop: () => reset() };
}

/** A store on a fresh database file; closes and removes everything afterwards. */
async function withStore(fn: (store: KvStickyStore, path: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "p2proxy-sticky-kv-" });
  const path = join(dir, "sticky.kv");
  const store = await KvStickyStore.open(path);
  try {
    await fn(store, path);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Raw access to the same database, closed afterwards. */
async function withRawKv(path: string, fn: (kv: Deno.Kv) => Promise<void>) {
  const kv = await Deno.openKv(path);
  try {
    await fn(kv);
  } finally {
    kv.close();
  }
}

async function rawEntries(kv: Deno.Kv) {
  const entries: [Deno.KvKey, unknown][] = [];
  for await (const entry of kv.list({ prefix: [...STICKY_KV_PREFIX] })) {
    entries.push([entry.key, entry.value]);
  }
  return entries;
}

Deno.test("KvStickyStore (file) passes the sticky store compliance suite", (t) =>
  stickyStoreCompliance(t, async () => {
    const dir = await Deno.makeTempDir({ prefix: "p2proxy-sticky-kv-compliance-" });
    const path = join(dir, "sticky.kv");
    const opened = [await KvStickyStore.open(path)];
    return {
      store: opened[0]!,
      reopen: async () => {
        const store = await KvStickyStore.open(path);
        opened.push(store);
        return store;
      },
      cleanup: async () => {
        for (const store of opened) await store.close();
        await Deno.remove(dir, { recursive: true });
      },
    };
  }));

Deno.test("KvStickyStore (:memory:) passes the sticky store compliance suite", (t) =>
  stickyStoreCompliance(t, async () => {
    const store = await KvStickyStore.open(":memory:");
    return { store, cleanup: () => store.close() };
  }));

Deno.test("KvStickyStore keeps one entry per port under p2proxy/sticky", async () => {
  await withStore(async (store, path) => {
    const record = sampleRecord(2);
    await store.save(record);
    await withRawKv(path, async (kv) => {
      assert.deepStrictEqual(await rawEntries(kv), [
        [["p2proxy", "sticky", 1080], record.servers["1080"]],
        [["p2proxy", "sticky", 1081], record.servers["1081"]],
      ]);
    });
  });
});

Deno.test("KvStickyStore deletes the ports a save no longer has, and nothing else", async () => {
  await withStore(async (store, path) => {
    await withRawKv(path, (kv) => kv.set(["p2proxy", "other"], "kept").then(() => {}));
    await store.save(sampleRecord(3));
    await store.save(sampleRecord(1, 7));
    await withRawKv(path, async (kv) => {
      assert.deepStrictEqual((await rawEntries(kv)).map(([key]) => key), [[
        "p2proxy",
        "sticky",
        1080,
      ]]);
      assert.equal((await kv.get(["p2proxy", "other"])).value, "kept");
    });
    assert.deepStrictEqual(await store.load(), sampleRecord(1, 7));
  });
});

Deno.test("KvStickyStore shares pools between two handles on one database", async () => {
  await withStore(async (store, path) => {
    const other = await KvStickyStore.open(path);
    try {
      await other.save(sampleRecord(2, 4));
      assert.deepStrictEqual(await store.load(), sampleRecord(2, 4));
      const saves: Promise<void>[] = [];
      for (let i = 0; i < 20; i++) {
        saves.push(store.save(sampleRecord(1, i)), other.save(sampleRecord(3, i)));
      }
      await Promise.all(saves);
      const final = await store.load();
      assert.ok(
        [sampleRecord(1, 19), sampleRecord(3, 19)].some((last) => isDeepEqual(final, last)),
        "the database holds one writer's last save, whole",
      );
    } finally {
      await other.close();
    }
  });
});

function isDeepEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

Deno.test("KvStickyStore skips foreign or malformed entries with one warning", async () => {
  const logs = await captureLogs();
  try {
    await withStore(async (store, path) => {
      const good = sampleRecord(1).servers["1080"]!;
      await withRawKv(path, async (kv) => {
        await kv.set(["p2proxy", "sticky", 1080], good);
        await kv.set(["p2proxy", "sticky", 1081], "junk");
        await kv.set(["p2proxy", "sticky", "1082"], good);
        await kv.set(["p2proxy", "sticky", 70_000], good);
        await kv.set(["p2proxy", "sticky", 1083], {
          fingerprint: "fp",
          peers: [{ peer_id: aPeerId(1), address: null, updated_at: 1 }, { peer_id: 5 }],
        });
      });
      const loaded = await store.load();
      assert.deepStrictEqual(Object.keys(loaded.servers).sort(), ["1080", "1083"]);
      assert.equal(loaded.servers["1083"]?.peers.length, 1);
      await store.load();
      assert.equal(logs.warnings().length, 1);
      assert.equal(logs.warnings()[0]!.properties.count, 4);

      await store.save(loaded);
      await withRawKv(path, async (kv) => {
        assert.equal((await rawEntries(kv)).length, 2, "the next save replaces the bad entries");
      });
    });
  } finally {
    await logs.stop();
  }
});

Deno.test("KvStickyStore keeps the most recent peers of a pool too large for one value", async () => {
  const logs = await captureLogs();
  try {
    await withStore(async (store) => {
      const longAddress = `/dns4/${"a".repeat(900)}.example/tcp/4001`;
      const peers = Array.from({ length: 200 }, (_, i) => ({
        peer_id: aPeerId(i),
        address: longAddress,
        updated_at: 1_700_000_000_000 - i,
      }));
      const huge: StickyRecord = {
        version: 1,
        servers: { "1080": { fingerprint: "fp", peers }, "1081": sampleRecord(1).servers["1080"]! },
      };
      await store.save(huge);
      await store.save(huge);
      const loaded = await store.load();
      const kept = loaded.servers["1080"]!.peers;
      assert.ok(kept.length > 10 && kept.length < 200, `kept ${kept.length}`);
      assert.deepStrictEqual(kept, peers.slice(0, kept.length), "the most recent peers are kept");
      assert.deepStrictEqual(loaded.servers["1081"], sampleRecord(1).servers["1080"]);
      const truncations = logs.warnings().filter((r) => r.properties.port === 1080);
      assert.equal(truncations.length, 1, "warned once, not per save");
      assert.equal(truncations[0]!.properties.kept, kept.length);
    });
  } finally {
    await logs.stop();
  }
});

Deno.test("KvStickyStore drops a pool whose fingerprint alone is too large", async () => {
  const logs = await captureLogs();
  try {
    await withStore(async (store) => {
      await store.save({
        version: 1,
        servers: {
          "1080": { fingerprint: "f".repeat(70_000), peers: [] },
          "1081": sampleRecord(1).servers["1080"]!,
        },
      });
      assert.deepStrictEqual(Object.keys((await store.load()).servers), ["1081"]);
      assert.equal(logs.warnings().length, 1);
    });
  } finally {
    await logs.stop();
  }
});

Deno.test("KvStickyStore logs, never throws, when a save is too large for one atomic operation", async () => {
  const logs = await captureLogs();
  try {
    await withStore(async (store) => {
      const bigPool = (seed: number) => ({
        fingerprint: "fp",
        peers: Array.from({ length: 60 }, (_, i) => ({
          peer_id: aPeerId(seed * 1_000 + i),
          address: `/dns4/${"b".repeat(900)}/tcp/1`,
          updated_at: i,
        })),
      });
      const servers = Object.fromEntries(
        Array.from({ length: 20 }, (_, i) => [String(2000 + i), bigPool(i)]),
      );
      await store.save({ version: 1, servers });
      assert.equal(logs.warnings().length, 1);
      assert.match(String(logs.warnings()[0]!.properties.error), /too large/i);
      await store.save(sampleRecord(1));
      assert.deepStrictEqual(await store.load(), sampleRecord(1));
      assert.ok(logs.records.some((r) => r.level === "info"), "recovery is logged");
    });
  } finally {
    await logs.stop();
  }
});

Deno.test("KvStickyStore.open names the database it could not open", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p2proxy-sticky-kv-" });
  const path = join(dir, "missing", "dir", "sticky.kv");
  try {
    await assert.rejects(KvStickyStore.open(path), (error) => {
      assert.ok(isP2proxyError(error, "unavailable"), String(error));
      assert.ok(error.message.includes(`"${path}"`), error.message);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KvStickyStore after close: saves are ignored, loads are empty, close is idempotent", async () => {
  const logs = await captureLogs();
  try {
    const store = await KvStickyStore.open(":memory:");
    await store.save(sampleRecord(1));
    await store.close();
    await store.close();
    await store.save(sampleRecord(2));
    assert.deepStrictEqual(await store.load(), emptyStickyRecord());
  } finally {
    await logs.stop();
  }
});

// ---------------------------------------------------------------------------
// The plugin (mod.ts): options, permissions, lifecycle.

const ctx = { stateDir: "/var/lib/p2proxy", role: "proxy" as const };
const contextFor = (stateDir: string) => ({
  stateDir,
  role: "proxy" as const,
  get: () => assert.fail("sticky-kv requires nothing"),
  find: () => assert.fail("sticky-kv wants nothing"),
});

Deno.test("the sticky-kv plugin's store passes the sticky store compliance suite", (t) =>
  stickyStoreCompliance(t, async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "p2proxy-sticky-kv-plugin-" });
    const create = () => plugin.create(plugin.options.parse({}), contextFor(stateDir));
    const instances = [await create()];
    return {
      store: instances[0]!.provides["sticky-store"],
      reopen: async () => {
        const instance = await create();
        instances.push(instance);
        return instance.provides["sticky-store"];
      },
      cleanup: async () => {
        for (const instance of instances) await instance.stop?.();
        await Deno.remove(stateDir, { recursive: true });
      },
    };
  }));

Deno.test("sticky-kv takes :memory:, never an empty path or a URL without a host", () => {
  assert.deepEqual(plugin.options.parse({ path: ":memory:" }), { path: ":memory:" });
  assert.equal(plugin.options.safeParse({ path: "" }).success, false);
  assert.equal(plugin.options.safeParse({ path: "https://" }).success, false);
});

Deno.test("sticky-kv asks for read and write on exactly its database file, and unstable kv", () => {
  assert.deepEqual(plugin.permissions?.(plugin.options.parse({}), ctx), {
    read: ["/var/lib/p2proxy/sticky.kv"],
    write: ["/var/lib/p2proxy/sticky.kv"],
    unstable: ["kv"],
  });
  assert.deepEqual(plugin.permissions?.({ path: "/srv/kv/p.db" }, ctx), {
    read: ["/srv/kv/p.db"],
    write: ["/srv/kv/p.db"],
    unstable: ["kv"],
  });
});

Deno.test("sticky-kv in memory needs only unstable kv; a KV Connect URL needs net and its token", () => {
  assert.deepEqual(plugin.permissions?.({ path: ":memory:" }, ctx), { unstable: ["kv"] });
  assert.deepEqual(
    plugin.permissions?.({ path: "https://kv.example.com/databases/abc/connect" }, ctx),
    { net: ["kv.example.com"], env: ["DENO_KV_ACCESS_TOKEN"], unstable: ["kv"] },
  );
});

Deno.test("stickyKvLocation resolves files against the state directory", () => {
  assert.equal(stickyKvLocation("/state", "sticky.kv"), "/state/sticky.kv");
  assert.equal(stickyKvLocation("/state", "/abs/x.kv"), "/abs/x.kv");
  assert.equal(stickyKvLocation("/state", ":memory:"), ":memory:");
  assert.equal(stickyKvLocation(".", "sticky.kv"), "sticky.kv");
});

Deno.test("sticky-kv create() fails clearly when the database cannot open; stop() closes it", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "p2proxy-sticky-kv-plugin-" });
  try {
    await assert.rejects(
      Promise.resolve(plugin.create({ path: "no/such/dir/x.kv" }, contextFor(stateDir))),
      /Could not open the Deno KV sticky store/,
    );
    const instance = await plugin.create({ path: "x.kv" }, contextFor(stateDir));
    assert.ok(instance.provides["sticky-store"] instanceof KvStickyStore);
    await instance.stop?.();
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("sticky-kv works under exactly its declared permissions", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "p2proxy-sticky-kv-perms-" });
  try {
    const flags = renderPermissionFlags(
      plugin.permissions!(plugin.options.parse({}), { stateDir, role: "proxy" }),
    );
    const result = await runUnder(
      flags,
      `
      import { plugin } from ${JSON.stringify(new URL("./mod.ts", import.meta.url).href)};
      const ctx = { stateDir: ${JSON.stringify(stateDir)}, role: "proxy", get() {}, find() {} };
      const instance = await plugin.create(plugin.options.parse({}), ctx);
      const store = instance.provides["sticky-store"];
      await store.save({ version: 1, servers: { "1080": { fingerprint: "fp", peers: [] } } });
      const loaded = await store.load();
      await instance.stop();
      let other = "allowed";
      try { await Deno.readTextFile(${JSON.stringify(`${stateDir}/other.txt`)}); }
      catch (error) { other = error.name; }
      console.log(JSON.stringify({ loaded, other }));
      `,
    );
    assert.equal(result.code, 0, result.stderr);
    const { loaded, other } = JSON.parse(result.stdout);
    assert.deepEqual(loaded.servers["1080"], { fingerprint: "fp", peers: [] });
    assert.equal(other, "NotCapable", "nothing beside the database is readable");
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});
