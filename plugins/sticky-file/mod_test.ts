import assert from "node:assert/strict";
import { join } from "node:path";
import {
  definitionProblems,
  PLUGIN_API_VERSION,
  type PluginDefinition,
} from "../../core/plugin/contract.ts";
import { planComposition } from "../../core/plugin/host.ts";
import { renderPermissionFlags } from "../../core/plugin/permissions.ts";
import { sampleRecord, stickyStoreCompliance } from "../../core/testing/compliance/sticky_store.ts";
import { FileStickyStore } from "./file_sticky_store.ts";
import defaultExport, { plugin, stickyFilePath } from "./mod.ts";

// A concrete plugin is not assignable to the widest PluginDefinition (see plugins/builtin.ts).
const generic = plugin as unknown as PluginDefinition;
const ctx = { stateDir: "/var/lib/p2proxy", role: "proxy" as const };
const contextFor = (stateDir: string) => ({
  stateDir,
  role: "proxy" as const,
  get: () => assert.fail("sticky-file requires nothing"),
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

Deno.test("sticky-file is a valid plugin providing sticky-store", () => {
  assert.equal(defaultExport, plugin);
  assert.deepEqual(definitionProblems(generic), []);
  assert.equal(plugin.name, "@p2proxy/sticky-file");
  assert.equal(plugin.version, "0.1.0");
  assert.equal(plugin.api, PLUGIN_API_VERSION);
  assert.deepEqual(plugin.provides, ["sticky-store"]);
  assert.equal(plugin.requires, undefined);
  const plan = planComposition({ plugins: [generic], needs: ["sticky-store"] });
  assert.equal(plan.providers.get("sticky-store"), plugin.name);
});

Deno.test("sticky-file options default to sticky_peers.json and are strict", () => {
  assert.deepEqual(plugin.options.parse({}), { file: "sticky_peers.json" });
  assert.deepEqual(plugin.options.parse({ file: "pools.json" }), { file: "pools.json" });
  assert.equal(plugin.options.safeParse({ file: "" }).success, false);
  assert.equal(plugin.options.safeParse({ path: "x.json" }).success, false);
});

Deno.test("sticky-file asks for read and write on exactly the state directory", () => {
  const permissions = plugin.permissions?.(plugin.options.parse({}), ctx);
  assert.deepEqual(permissions, { read: ["/var/lib/p2proxy"], write: ["/var/lib/p2proxy"] });
  assert.deepEqual(plugin.permissions?.({ file: "x.json" }, { ...ctx, stateDir: "." }), {
    read: ["."],
    write: ["."],
  });
});

Deno.test("sticky-file asks for the folder of a file placed elsewhere", () => {
  assert.deepEqual(plugin.permissions?.({ file: "pools/sticky.json" }, ctx), {
    read: ["/var/lib/p2proxy/pools"],
    write: ["/var/lib/p2proxy/pools"],
  });
  assert.deepEqual(plugin.permissions?.({ file: "/srv/p2proxy/sticky.json" }, ctx), {
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
      const ctx = { stateDir: ${JSON.stringify(stateDir)}, role: "proxy", get() {} };
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
