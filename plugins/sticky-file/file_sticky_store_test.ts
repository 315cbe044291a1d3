import assert from "node:assert/strict";
import { join } from "node:path";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import {
  emptyStickyRecord,
  STICKY_RECORD_VERSION,
  type StickyRecord,
} from "../../core/ports/sticky_store.ts";
import { aPeerId } from "../../core/testing/builders.ts";
import { sampleRecord, stickyStoreCompliance } from "../../core/testing/compliance/sticky_store.ts";
import { FileStickyStore, writeFileAtomically } from "./file_sticky_store.ts";
import { renderPermissionFlags } from "../../core/plugin/permissions.ts";
import { runUnder } from "../../tests/_permission_probe.ts";
import { plugin, stickyFilePath } from "./mod.ts";

const FILE = "sticky_peers.json";

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
  const at = (level: LogRecord["level"]) => records.filter((r) => r.level === level);
  return { records, warnings: () => at("warning"), stop: () => reset() };
}

/** A fresh temp state dir with a store in it; removes it afterwards. */
async function withStateDir(
  fn: (dir: string, path: string, store: FileStickyStore) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "p2proxy-sticky-" });
  const path = join(dir, FILE);
  try {
    await fn(dir, path, new FileStickyStore(path));
  } finally {
    await Deno.chmod(dir, 0o755).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

async function readJson(path: string): Promise<unknown> {
  return JSON.parse(await Deno.readTextFile(path));
}

Deno.test("FileStickyStore passes the sticky store compliance suite", (t) =>
  stickyStoreCompliance(t, async () => {
    const dir = await Deno.makeTempDir({ prefix: "p2proxy-sticky-compliance-" });
    const path = join(dir, FILE);
    const opened = [new FileStickyStore(path)];
    return {
      store: opened[0]!,
      reopen: () => {
        const store = new FileStickyStore(path);
        opened.push(store);
        return Promise.resolve(store);
      },
      cleanup: async () => {
        await Promise.all(opened.map((store) => store.flush()));
        await Deno.remove(dir, { recursive: true });
      },
    };
  }));

Deno.test("FileStickyStore writes versioned JSON that reads back equal", async () => {
  await withStateDir(async (_dir, path, store) => {
    const record = sampleRecord(2);
    await store.save(record);
    assert.deepStrictEqual(await readJson(path), record);
    assert.equal((await readJson(path) as StickyRecord).version, STICKY_RECORD_VERSION);
    assert.deepStrictEqual(await new FileStickyStore(path).load(), record);
  });
});

Deno.test("FileStickyStore loads a missing file as empty, without a warning", async () => {
  const logs = await captureLogs();
  try {
    await withStateDir(async (_dir, _path, store) => {
      assert.deepStrictEqual(await store.load(), emptyStickyRecord());
      assert.deepStrictEqual(logs.warnings(), []);
    });
  } finally {
    await logs.stop();
  }
});

Deno.test("FileStickyStore creates a missing state directory on first save", async () => {
  await withStateDir(async (dir) => {
    const path = join(dir, "state", "nested", FILE);
    const store = new FileStickyStore(path);
    assert.deepStrictEqual(await store.load(), emptyStickyRecord());
    await store.save(sampleRecord(1));
    assert.deepStrictEqual(await readJson(path), sampleRecord(1));
  });
});

Deno.test("FileStickyStore recovers from a corrupt file: warns once, then overwrites it", async () => {
  const logs = await captureLogs();
  try {
    await withStateDir(async (_dir, path, store) => {
      await Deno.writeTextFile(path, "{not json");
      assert.deepStrictEqual(await store.load(), emptyStickyRecord());
      assert.deepStrictEqual(await store.load(), emptyStickyRecord());
      assert.equal(logs.warnings().length, 1, "one warning for one bad file");
      assert.equal(logs.warnings()[0]!.properties.path, path);
      assert.match(String(logs.warnings()[0]!.properties.reason), /not JSON/);
      assert.equal(await Deno.readTextFile(path), "{not json", "loading leaves the file alone");

      const record = sampleRecord(1);
      await store.save(record);
      assert.deepStrictEqual(await readJson(path), record);
      assert.deepStrictEqual(await store.load(), record);
      assert.equal(logs.warnings().length, 1);
    });
  } finally {
    await logs.stop();
  }
});

Deno.test("FileStickyStore starts empty on a wrong-shape file", async (t) => {
  for (const text of ["[]", "null", '"x"', '{"version":1,"servers":[]}', '{"version":1}']) {
    await t.step(text, async () => {
      const logs = await captureLogs();
      try {
        await withStateDir(async (_dir, path, store) => {
          await Deno.writeTextFile(path, text);
          assert.deepStrictEqual(await store.load(), emptyStickyRecord());
          assert.equal(logs.warnings().length, 1);
        });
      } finally {
        await logs.stop();
      }
    });
  }
});

Deno.test("FileStickyStore starts empty on an old or unknown version and overwrites it", async (t) => {
  for (const version of [0, 99]) {
    await t.step(`version ${version}`, async () => {
      const logs = await captureLogs();
      try {
        await withStateDir(async (_dir, path, store) => {
          const old = { version, servers: { "1080": { fingerprint: "fp", peers: [] } } };
          await Deno.writeTextFile(path, JSON.stringify(old));
          assert.deepStrictEqual(await store.load(), emptyStickyRecord());
          assert.equal(logs.warnings().length, 1);
          assert.match(String(logs.warnings()[0]!.properties.reason), new RegExp(`${version}`));
          await store.save(sampleRecord(1));
          assert.equal((await readJson(path) as StickyRecord).version, STICKY_RECORD_VERSION);
        });
      } finally {
        await logs.stop();
      }
    });
  }
});

Deno.test("FileStickyStore keeps the good entries of a damaged file and names the bad", async () => {
  const logs = await captureLogs();
  try {
    await withStateDir(async (_dir, path, store) => {
      const good = sampleRecord(1);
      const damaged = {
        version: 1,
        servers: { ...good.servers, "1081": { fingerprint: 7 }, "1082": "junk" },
      };
      await Deno.writeTextFile(path, JSON.stringify(damaged));
      assert.deepStrictEqual(await store.load(), good);
      assert.equal(logs.warnings().length, 1);
      assert.equal(logs.warnings()[0]!.properties.count, 2);
    });
  } finally {
    await logs.stop();
  }
});

Deno.test("FileStickyStore reads the anchor's sticky_peers.json (v1 and v2)", async () => {
  await withStateDir(async (_dir, path, store) => {
    const peer = aPeerId(3);
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        version: 1,
        servers: {
          "1080": { peer_id: peer, fingerprint: "fp", updated_at: "2026-06-17T11:41:44Z" },
        },
      }),
    );
    assert.deepStrictEqual((await store.load()).servers["1080"], {
      fingerprint: "fp",
      peers: [{ peer_id: peer, address: null, updated_at: Date.UTC(2026, 5, 17, 11, 41, 44) }],
    });
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        version: 2,
        servers: {
          "1080": {
            fingerprint: "fp",
            peers: [{
              peer_id: peer,
              address: "/ip4/1.2.3.4/tcp/1",
              updated_at: "2026-06-17T11:41:44Z",
            }],
          },
        },
      }),
    );
    assert.equal((await store.load()).servers["1080"]?.peers[0]?.address, "/ip4/1.2.3.4/tcp/1");
  });
});

Deno.test("FileStickyStore leaves no temp file behind", async () => {
  await withStateDir(async (dir, _path, store) => {
    for (let i = 0; i < 10; i++) await store.save(sampleRecord(1 + i % 3, i));
    await Promise.all(Array.from({ length: 10 }, (_, i) => store.save(sampleRecord(2, i))));
    assert.deepStrictEqual(await listDir(dir), [FILE]);
  });
});

Deno.test("FileStickyStore: 50 concurrent saves leave a valid file equal to the last record", async () => {
  await withStateDir(async (dir, path, store) => {
    const records = Array.from({ length: 50 }, (_, i) => sampleRecord(1 + i % 5, i));
    await Promise.all(records.map((record) => store.save(record)));
    assert.deepStrictEqual(await readJson(path), records.at(-1));
    assert.deepStrictEqual(await listDir(dir), [FILE]);
  });
});

Deno.test("FileStickyStore: two stores saving one file concurrently never corrupt it", async () => {
  await withStateDir(async (dir, path) => {
    const a = new FileStickyStore(path);
    const b = new FileStickyStore(path);
    const saves: Promise<void>[] = [];
    for (let i = 0; i < 30; i++) {
      saves.push(a.save(sampleRecord(2, i)), b.save(sampleRecord(3, 100 + i)));
      if (i % 5 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await Promise.all(saves);
    const onDisk = await readJson(path);
    assert.ok(
      [sampleRecord(2, 29), sampleRecord(3, 129)].some((last) =>
        JSON.stringify(last) === JSON.stringify(onDisk)
      ),
      "the file holds one store's last record, whole",
    );
    assert.deepStrictEqual(await listDir(dir), [FILE]);
  });
});

Deno.test("FileStickyStore logs, never throws, when the state directory cannot be made", async () => {
  const logs = await captureLogs();
  try {
    await withStateDir(async (dir) => {
      await Deno.writeTextFile(join(dir, "not-a-dir"), "");
      const path = join(dir, "not-a-dir", "state", FILE);
      const store = new FileStickyStore(path);
      await store.save(sampleRecord(1));
      await store.save(sampleRecord(2));
      assert.equal(logs.warnings().length, 1, "a failing disk warns once, not per save");
      assert.equal(logs.warnings()[0]!.properties.path, path);
      assert.deepStrictEqual(
        await store.load(),
        emptyStickyRecord(),
        "an unreadable path loads empty",
      );
      assert.deepStrictEqual(await listDir(dir), ["not-a-dir"]);
    });
  } finally {
    await logs.stop();
  }
});

Deno.test("FileStickyStore removes its temp file when the rename fails, and recovers", async () => {
  const logs = await captureLogs();
  try {
    await withStateDir(async (dir, path, store) => {
      await Deno.mkdir(join(path, "blocker"), { recursive: true });
      await store.save(sampleRecord(1));
      assert.deepStrictEqual(await listDir(dir), [FILE], "no temp file beside the blocked target");
      assert.equal(logs.warnings().length, 1);

      await Deno.remove(path, { recursive: true });
      await store.save(sampleRecord(2));
      assert.deepStrictEqual(await readJson(path), sampleRecord(2));
      assert.ok(logs.records.some((r) => r.level === "info" && r.properties.path === path));
    });
  } finally {
    await logs.stop();
  }
});

Deno.test("FileStickyStore snapshots a record when save is called", async () => {
  await withStateDir(async (_dir, path, store) => {
    const record = sampleRecord(1);
    const saving = store.save(record);
    (record.servers as Record<string, unknown>)["1080"] = undefined;
    await saving;
    assert.deepStrictEqual(await readJson(path), sampleRecord(1));
  });
});

Deno.test("FileStickyStore.flush waits for queued saves", async () => {
  await withStateDir(async (_dir, path, store) => {
    void store.save(sampleRecord(1));
    void store.save(sampleRecord(2));
    await store.flush();
    assert.deepStrictEqual(await readJson(path), sampleRecord(2));
  });
});

Deno.test("writeFileAtomically replaces the file and leaves nothing else", async () => {
  await withStateDir(async (dir) => {
    const path = join(dir, "x.bin");
    await writeFileAtomically(path, new Uint8Array([1]));
    await writeFileAtomically(path, new Uint8Array([2, 3]));
    assert.deepStrictEqual(await Deno.readFile(path), new Uint8Array([2, 3]));
    assert.deepStrictEqual(await listDir(dir), ["x.bin"]);
    await assert.rejects(writeFileAtomically(join(dir, "missing", "y"), new Uint8Array([1])));
    assert.deepStrictEqual(await listDir(dir), ["x.bin"]);
  });
});

// ---------------------------------------------------------------------------
// The plugin (mod.ts): options, permissions, lifecycle.

const pluginCtx = { stateDir: "/var/lib/p2proxy", role: "proxy" as const };
const contextFor = (stateDir: string) => ({
  stateDir,
  role: "proxy" as const,
  get: () => assert.fail("sticky-file requires nothing"),
  find: () => assert.fail("sticky-file wants nothing"),
});

Deno.test("the sticky-file plugin's store passes the sticky store compliance suite", (t) =>
  stickyStoreCompliance(t, async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "p2proxy-sticky-plugin-" });
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

Deno.test("sticky-file takes another file name, never an empty one", () => {
  assert.deepEqual(plugin.options.parse({ file: "pools.json" }), { file: "pools.json" });
  assert.equal(plugin.options.safeParse({ file: "" }).success, false);
});

Deno.test("sticky-file asks for read and write on exactly the state directory", () => {
  const permissions = plugin.permissions?.(plugin.options.parse({}), pluginCtx);
  assert.deepEqual(permissions, { read: ["/var/lib/p2proxy"], write: ["/var/lib/p2proxy"] });
  assert.deepEqual(plugin.permissions?.({ file: "x.json" }, { ...pluginCtx, stateDir: "." }), {
    read: ["."],
    write: ["."],
  });
});

Deno.test("sticky-file asks for the folder of a file placed elsewhere", () => {
  assert.deepEqual(plugin.permissions?.({ file: "pools/sticky.json" }, pluginCtx), {
    read: ["/var/lib/p2proxy/pools"],
    write: ["/var/lib/p2proxy/pools"],
  });
  assert.deepEqual(plugin.permissions?.({ file: "/srv/p2proxy/sticky.json" }, pluginCtx), {
    read: ["/srv/p2proxy"],
    write: ["/srv/p2proxy"],
  });
});

Deno.test("stickyFilePath resolves against the state directory unless absolute", () => {
  assert.equal(stickyFilePath("/state", "sticky_peers.json"), "/state/sticky_peers.json");
  assert.equal(stickyFilePath("/state/", "./a/../b.json"), "/state/b.json");
  assert.equal(stickyFilePath("/state", "/elsewhere/x.json"), "/elsewhere/x.json");
  assert.equal(stickyFilePath(".", "sticky_peers.json"), "sticky_peers.json");
});

Deno.test("sticky-file stop() waits for the last save", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "p2proxy-sticky-plugin-" });
  try {
    const instance = await plugin.create({ file: "s.json" }, contextFor(stateDir));
    const store = instance.provides["sticky-store"];
    assert.ok(store instanceof FileStickyStore);
    void store.save(sampleRecord(2));
    await instance.stop?.();
    assert.deepStrictEqual(
      JSON.parse(await Deno.readTextFile(join(stateDir, "s.json"))),
      sampleRecord(2),
    );
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("sticky-file works under exactly its declared permissions", async () => {
  const root = await Deno.makeTempDir({ prefix: "p2proxy-sticky-perms-" });
  // A state dir that does not exist yet: creating it must fit in the same permissions.
  const stateDir = join(root, "state");
  const outside = await Deno.makeTempDir({ prefix: "p2proxy-sticky-outside-" });
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
      const record = { version: 1, servers: { "1080": { fingerprint: "fp", peers: [] } } };
      await store.save(record);
      const loaded = await store.load();
      await instance.stop();
      let outside = "allowed";
      try { await Deno.readDir(${JSON.stringify(outside)})[Symbol.asyncIterator]().next(); }
      catch (error) { outside = error.name; }
      console.log(JSON.stringify({ loaded, outside }));
      `,
    );
    assert.equal(result.code, 0, result.stderr);
    const { loaded, outside: outsideAccess } = JSON.parse(result.stdout);
    assert.deepEqual(loaded.servers["1080"], { fingerprint: "fp", peers: [] });
    assert.equal(outsideAccess, "NotCapable");
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});
