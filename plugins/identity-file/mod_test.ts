import assert from "node:assert/strict";
import { join } from "node:path";
import {
  definitionProblems,
  PLUGIN_API_VERSION,
  type PluginDefinition,
} from "../../core/plugin/contract.ts";
import { planComposition } from "../../core/plugin/host.ts";
import { renderPermissionFlags } from "../../core/plugin/permissions.ts";
import { identityCompliance } from "../../core/testing/compliance/identity.ts";
import { FileIdentity } from "./file_identity.ts";
import defaultExport, { IdentityError, identityFilePath, plugin } from "./mod.ts";

// A concrete plugin is not assignable to the widest PluginDefinition (see plugins/builtin.ts).
const generic = plugin as unknown as PluginDefinition;
const ctx = { stateDir: "/var/lib/p2proxy", role: "exit" as const };
const contextFor = (stateDir: string) => ({
  stateDir,
  role: "exit" as const,
  get: () => assert.fail("identity-file requires nothing"),
});

Deno.test("the identity-file plugin's identity passes the identity compliance suite", (t) =>
  identityCompliance(t, async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "p2proxy-identity-plugin-" });
    const create = async () =>
      (await plugin.create(plugin.options.parse({}), contextFor(stateDir))).provides.identity;
    return {
      identity: await create(),
      reopen: create,
      cleanup: () => Deno.remove(stateDir, { recursive: true }),
    };
  }));

Deno.test("identity-file is a valid plugin providing identity", () => {
  assert.equal(defaultExport, plugin);
  assert.deepEqual(definitionProblems(generic), []);
  assert.equal(plugin.name, "@p2proxy/identity-file");
  assert.equal(plugin.version, "0.1.0");
  assert.equal(plugin.api, PLUGIN_API_VERSION);
  assert.deepEqual(plugin.provides, ["identity"]);
  const plan = planComposition({ plugins: [generic], needs: ["identity"] });
  assert.equal(plan.providers.get("identity"), plugin.name);
});

Deno.test("identity-file options default to node_keypair.bin and are strict", () => {
  assert.deepEqual(plugin.options.parse({}), { file: "node_keypair.bin" });
  assert.equal(plugin.options.safeParse({ file: "" }).success, false);
  assert.equal(plugin.options.safeParse({ path: "k.bin" }).success, false);
});

Deno.test("identity-file asks for read and write on exactly the key's folder", () => {
  assert.deepEqual(plugin.permissions?.(plugin.options.parse({}), ctx), {
    read: ["/var/lib/p2proxy"],
    write: ["/var/lib/p2proxy"],
  });
  assert.deepEqual(plugin.permissions?.({ file: "/etc/p2proxy/keys/node.bin" }, ctx), {
    read: ["/etc/p2proxy/keys"],
    write: ["/etc/p2proxy/keys"],
  });
});

Deno.test("identityFilePath resolves against the state directory unless absolute", () => {
  assert.equal(identityFilePath("/s", "node_keypair.bin"), "/s/node_keypair.bin");
  assert.equal(identityFilePath(".", "node_keypair.bin"), "node_keypair.bin");
  assert.equal(identityFilePath("/s", "/k/x.bin"), "/k/x.bin");
});

Deno.test("identity-file create() loads the same identity each time and refuses a corrupt file", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "p2proxy-identity-plugin-" });
  try {
    const first = await plugin.create({ file: "k.bin" }, contextFor(stateDir));
    const second = await plugin.create({ file: "k.bin" }, contextFor(stateDir));
    assert.ok(first.provides.identity instanceof FileIdentity);
    assert.equal(first.provides.identity.peerId, second.provides.identity.peerId);
    await Deno.writeTextFile(join(stateDir, "bad.bin"), "garbage");
    await assert.rejects(
      Promise.resolve(plugin.create({ file: "bad.bin" }, contextFor(stateDir))),
      (error) => error instanceof IdentityError && error.code === "corrupt",
    );
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("identity-file works under exactly its declared permissions", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "p2proxy-identity-perms-" });
  try {
    // A state dir that does not exist yet: creating it must fit in the same permissions.
    const nodeStateDir = join(stateDir, "state");
    const flags = renderPermissionFlags(
      plugin.permissions!(plugin.options.parse({}), { stateDir: nodeStateDir, role: "exit" }),
    );
    const probe = `
      import { plugin } from ${JSON.stringify(new URL("./mod.ts", import.meta.url).href)};
      const ctx = { stateDir: ${JSON.stringify(nodeStateDir)}, role: "exit", get() {} };
      const instance = await plugin.create(plugin.options.parse({}), ctx);
      console.log(instance.provides.identity.peerId);
    `;
    const first = await runUnder(flags, probe);
    assert.equal(first.code, 0, first.stderr);
    const second = await runUnder(flags, probe);
    assert.equal(second.stdout, first.stdout, "the same peer id on the next run");
    assert.match(first.stdout.trim(), /^12D3KooW/);
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
