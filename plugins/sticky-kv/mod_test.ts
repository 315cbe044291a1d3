import assert from "node:assert/strict";
import {
  definitionProblems,
  PLUGIN_API_VERSION,
  type PluginDefinition,
} from "../../core/plugin/contract.ts";
import { planComposition } from "../../core/plugin/host.ts";
import { renderPermissionFlags } from "../../core/plugin/permissions.ts";
import { stickyStoreCompliance } from "../../core/testing/compliance/sticky_store.ts";
import { KvStickyStore } from "./kv_sticky_store.ts";
import defaultExport, { plugin, stickyKvLocation } from "./mod.ts";

// A concrete plugin is not assignable to the widest PluginDefinition (see plugins/builtin.ts).
const generic = plugin as unknown as PluginDefinition;
const ctx = { stateDir: "/var/lib/p2proxy", role: "proxy" as const };
const contextFor = (stateDir: string) => ({
  stateDir,
  role: "proxy" as const,
  get: () => assert.fail("sticky-kv requires nothing"),
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

Deno.test("sticky-kv is a valid plugin providing sticky-store", () => {
  assert.equal(defaultExport, plugin);
  assert.deepEqual(definitionProblems(generic), []);
  assert.equal(plugin.name, "@p2proxy/sticky-kv");
  assert.equal(plugin.version, "0.1.0");
  assert.equal(plugin.api, PLUGIN_API_VERSION);
  assert.deepEqual(plugin.provides, ["sticky-store"]);
  const plan = planComposition({ plugins: [generic], needs: ["sticky-store"] });
  assert.equal(plan.providers.get("sticky-store"), plugin.name);
});

Deno.test("sticky-kv options default to sticky.kv and are strict", () => {
  assert.deepEqual(plugin.options.parse({}), { path: "sticky.kv" });
  assert.deepEqual(plugin.options.parse({ path: ":memory:" }), { path: ":memory:" });
  assert.equal(plugin.options.safeParse({ path: "" }).success, false);
  assert.equal(plugin.options.safeParse({ file: "x.kv" }).success, false);
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
      const ctx = { stateDir: ${JSON.stringify(stateDir)}, role: "proxy", get() {} };
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

/** Runs `code` in a fresh Deno with only `flags` (and the project's config for imports). */
async function runUnder(flags: readonly string[], code: string) {
  const script = await Deno.makeTempFile({ prefix: "p2proxy-perm-probe-", suffix: ".ts" });
  try {
    await Deno.writeTextFile(script, code);
    const config = new URL("../../deno.json", import.meta.url).pathname;
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--no-prompt", `--config=${config}`, ...flags, script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
  } finally {
    await Deno.remove(script);
  }
}
