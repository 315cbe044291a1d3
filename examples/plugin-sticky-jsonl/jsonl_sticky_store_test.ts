/**
 * The example plugin proves itself the way any third-party plugin does: the compliance suite of the
 * port it provides, and the manifest compliance suite, both from `@p2proxy/p2proxy/testing`; then
 * what is particular to this store.
 */
import assert from "node:assert/strict";
import {
  Composition,
  emptyStickyRecord,
  loadProxyConfig,
  planComposition,
  planPermissions,
  type PluginDefinition,
} from "@p2proxy/p2proxy";
import {
  pluginManifestCompliance,
  RecordingSink,
  sampleRecord,
  stickyStoreCompliance,
} from "@p2proxy/p2proxy/testing";
import * as module from "./mod.ts";
import { JsonlStickyStore } from "./mod.ts";

/** An exit a proxy's server may be pinned to (any valid multiaddr with a peer id). */
const PINNED = "/ip4/127.0.0.1/tcp/4002/p2p/12D3KooWLFnKEbsVDsHyaGn8BjDJuyFRaE3MRFuBAWo1QzSvUMuC";

/** A fresh temp directory and a way to remove it. */
async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "sticky-jsonl-" });
  return { dir, cleanup: () => Deno.remove(dir, { recursive: true }) };
}

Deno.test("JsonlStickyStore passes the sticky-store compliance suite", (t) =>
  stickyStoreCompliance(t, async () => {
    const { dir, cleanup } = await tempDir();
    const path = `${dir}/sticky.jsonl`;
    return {
      // A small journal, so the suite's saves compact it many times over.
      store: new JsonlStickyStore(path, { maxLines: 7 }),
      reopen: () => Promise.resolve(new JsonlStickyStore(path, { maxLines: 7 })),
      cleanup,
    };
  }));

Deno.test("the plugin's manifest passes the manifest compliance suite", (t) =>
  pluginManifestCompliance(t, async () => {
    const { dir, cleanup } = await tempDir();
    return { plugin: module.plugin, module, stateDir: dir, role: "proxy", cleanup };
  }));

Deno.test("a line cut short by a crash costs only that save, and is reported", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const path = `${dir}/sticky.jsonl`;
    await new JsonlStickyStore(path, { maxLines: 100 }).save(sampleRecord(2));
    await Deno.writeTextFile(path, '{"version":1,"servers":{"1080":{"finger', { append: true });
    const events = new RecordingSink();
    const store = new JsonlStickyStore(path, { maxLines: 100, events });
    assert.deepEqual(await store.load(), sampleRecord(2));
    assert.deepEqual(events.events.map((e) => e.type), ["error"]);
    await Deno.writeTextFile(path, "not json\n");
    assert.deepEqual(await store.load(), emptyStickyRecord());
  } finally {
    await cleanup();
  }
});

Deno.test("the journal is compacted to its last record once it holds max_lines", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const path = `${dir}/sticky.jsonl`;
    const store = new JsonlStickyStore(path, { maxLines: 3 });
    for (let seed = 0; seed < 7; seed++) await store.save(sampleRecord(1, seed));
    const lines = (await Deno.readTextFile(path)).trim().split("\n");
    assert.equal(lines.length, 1, "7 saves with max 3 lines: 3, compact to 1, 2, 3, compact to 1");
    assert.deepEqual(await store.load(), sampleRecord(1, 6));
  } finally {
    await cleanup();
  }
});

Deno.test("the host composes it for a proxy: chosen, configured from the config, started", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const config = loadProxyConfig(
      JSON.stringify({
        state_dir: dir,
        servers: [1080, 1081].map((port) => ({ port, destination_peers: [PINNED] })),
        providers: { "sticky-store": "@example/sticky-jsonl" },
        plugins: { "@example/sticky-jsonl": { file: "pools.jsonl" } },
      }),
      { source: "Config.json" },
    );
    const settings = { role: "proxy" as const, config };
    // What the host does for a proxy's sticky store (the rest of a proxy's plugins left out).
    const plan = planComposition({
      // The host's list holds plugins of any options and capabilities.
      plugins: [module.plugin as unknown as PluginDefinition],
      needs: ["sticky-store"],
      wants: ["event-sink"],
      choices: config.providers,
      options: config.plugins,
      settings,
    });
    assert.equal(plan.providers.get("sticky-store"), "@example/sticky-jsonl");
    // `configure` read two servers (2 × 50 lines); the config's `plugins:` set the file.
    assert.deepEqual(plan.entries[0]?.options, { file: "pools.jsonl", max_lines: 100 });
    assert.deepEqual(planPermissions(plan, { stateDir: dir, role: "proxy" }), {
      read: [dir],
      write: [dir],
    });
    const events = new RecordingSink();
    const composition = await Composition.create(plan, { stateDir: dir, role: "proxy" }, {
      "event-sink": events,
    });
    await composition.start();
    try {
      await composition.get("sticky-store").save(sampleRecord(1));
      assert.deepEqual(await composition.get("sticky-store").load(), sampleRecord(1));
      assert.ok((await Deno.stat(`${dir}/pools.jsonl`)).isFile);
    } finally {
      assert.deepEqual(await composition.stop(), []);
    }
  } finally {
    await cleanup();
  }
});
