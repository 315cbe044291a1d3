/**
 * Plugin loading from a user's deno.json (docs/plugins.md#loading), through the real CLI:
 * each scenario is a folder with its own deno.json and plugin modules written
 * here, and `p2proxy plugins` / `check` / `id` run with that folder as cwd.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { BUILTIN_PLUGINS } from "../plugins/builtin.ts";
import { type CliResult, describe, inParallelByName, runCli } from "./_cli.ts";

const CONTRACT = new URL("../core/plugin/contract.ts", import.meta.url).href;
const ZOD = "npm:zod@4.6.7";
const EXIT_OK = 0;
const EXIT_USAGE = 2;

/** What the test plugin claims as its peer id; the identity-file plugin would make another. */
const FIXED_PEER = "12D3KooWC3iW81qrVSaGPV7aErQtDGMYg7R9hobpS4euNDi9b56S";

/** The built-ins a proxy needs besides an identity. */
const PROXY_BUILTINS = [
  "builtin:clock-system",
  "builtin:sticky-file",
  "builtin:network-libp2p",
  "builtin:directory-hub",
  "builtin:socks5",
];

/** A complete proxy config: one server, pinned (a server needs a route to an exit). */
const PROXY_YAML = "servers:\n  - protocol: socks5\n    port: 1080\n" +
  "    destination_peers: [12D3KooWS6M2cP13vSHoPXVYbmYvhFgZowNrwyy7VkvbEUgXiXGZ]\n";

interface PluginFields {
  readonly name: string;
  readonly provides: readonly string[];
  readonly requires?: readonly string[];
  /** A TypeScript expression; `PLUGIN_API_VERSION` is in scope. */
  readonly api?: string;
  /** A TypeScript expression for the zod schema; `z` is in scope. */
  readonly options?: string;
  /** The body of `create(options, ctx)`. */
  readonly create?: string;
}

/** A plugin module as a third party would write it. */
function pluginModule(fields: PluginFields): string {
  return [
    `import { definePlugin, PLUGIN_API_VERSION } from ${JSON.stringify(CONTRACT)};`,
    `import { z } from ${JSON.stringify(ZOD)};`,
    "",
    "export const plugin = definePlugin({",
    `  name: ${JSON.stringify(fields.name)},`,
    `  version: "1.2.3",`,
    `  api: ${fields.api ?? "PLUGIN_API_VERSION"},`,
    `  description: "Test plugin ${fields.name}.",`,
    `  provides: ${JSON.stringify(fields.provides)},`,
    `  requires: ${JSON.stringify(fields.requires ?? [])},`,
    `  options: ${fields.options ?? "z.object({}).strict()"},`,
    `  create: (options, ctx) => { ${fields.create ?? "throw new Error('not for this test');"} },`,
    "});",
    "",
  ].join("\n");
}

/** Provides `identity` with the peer id from its options, and proves it got the clock it requires. */
const FIXED_IDENTITY = pluginModule({
  name: "@acme/fixed-identity",
  provides: ["identity"],
  requires: ["clock"],
  options: `z.object({ peer_id: z.string().default(${JSON.stringify(FIXED_PEER)}) }).strict()`,
  create: [
    `if (typeof ctx.get("clock").now() !== "number") throw new Error("no clock");`,
    "const empty = new Uint8Array();",
    "return { provides: { identity: {",
    "  peerId: options.peer_id, publicKey: empty, privateKey: empty, sign: async () => empty,",
    "} } };",
  ].join(" "),
});

/** A folder with a deno.json (unless `denoJson` is null) and the given files. */
async function scenario(
  root: string,
  name: string,
  denoJson: unknown,
  files: Readonly<Record<string, string>> = {},
): Promise<string> {
  const dir = join(root, name);
  await Deno.mkdir(dir);
  if (denoJson !== null) {
    await Deno.writeTextFile(join(dir, "deno.json"), JSON.stringify(denoJson, null, 2));
  }
  for (const [file, text] of Object.entries(files)) await Deno.writeTextFile(join(dir, file), text);
  return dir;
}

function pluginList(plugins: readonly string[]) {
  return { p2proxy: { plugins } };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** A refusal: exit 2, nothing on stdout, the plugin (and any other hints) named on stderr. */
function assertRefused(result: CliResult, ...mentions: (string | RegExp)[]): void {
  assert.equal(result.code, EXIT_USAGE, describe(result));
  assert.doesNotMatch(result.stdout, /OK|12D3KooW/);
  for (const mention of mentions) {
    if (typeof mention === "string") {
      assert.ok(result.stderr.includes(mention), `"${mention}" not named:\n${describe(result)}`);
    } else {
      assert.match(result.stderr, mention);
    }
  }
}

interface PluginRow {
  readonly name: string;
  readonly provides: string[];
  readonly requires: string[];
}

function rowsOf(result: CliResult): { source: string; plugins: PluginRow[] } {
  assert.equal(result.code, EXIT_OK, describe(result));
  return JSON.parse(result.stdout);
}

Deno.test("plugins listed in deno.json are loaded, composed and rejected by name", async (t) => {
  const root = await Deno.makeTempDir({ prefix: "p2proxy-plugins-test-" });
  try {
    const good = await scenario(
      root,
      "good",
      pluginList(["./fixed_identity.ts", ...PROXY_BUILTINS]),
      {
        "fixed_identity.ts": FIXED_IDENTITY,
        "proxy.yaml": PROXY_YAML,
        "options.yaml": `${PROXY_YAML}plugins:\n  "@acme/fixed-identity": { peer_id: "x" }\n`,
        "bad_options.yaml": `${PROXY_YAML}plugins:\n  "@acme/fixed-identity": { peer_id: 42 }\n`,
        "unknown_option.yaml": `${PROXY_YAML}plugins:\n  "@acme/fixed-identity": { colour: red }\n`,
        "absent_plugin.yaml": `${PROXY_YAML}plugins:\n  "@acme/absent": {}\n`,
      },
    );
    const future = await scenario(
      root,
      "future",
      pluginList(["./future.ts", "builtin:identity-file", ...PROXY_BUILTINS]),
      {
        "future.ts": pluginModule({
          name: "@acme/future",
          provides: ["event-sink"],
          api: "PLUGIN_API_VERSION + 1",
        }),
        "proxy.yaml": PROXY_YAML,
      },
    );
    const needy = await scenario(
      root,
      "needy",
      pluginList(["./needy.ts", "builtin:identity-file", "builtin:clock-system"]),
      {
        "needy.ts": pluginModule({
          name: "@acme/needy-sticky",
          provides: ["sticky-store"],
          requires: ["peer-directory"],
        }),
        "proxy.yaml": PROXY_YAML,
      },
    );
    const ambiguous = await scenario(
      root,
      "ambiguous",
      pluginList(["./fixed_identity.ts", "builtin:identity-file", ...PROXY_BUILTINS]),
      {
        "fixed_identity.ts": FIXED_IDENTITY,
        "proxy.yaml": PROXY_YAML,
        "choose_ours.yaml": `${PROXY_YAML}providers:\n  identity: "@acme/fixed-identity"\n`,
        "choose_builtin.yaml": `${PROXY_YAML}providers:\n  identity: identity-file\n`,
      },
    );
    const noExport = await scenario(root, "no-export", pluginList(["./empty.ts"]), {
      "empty.ts": "export const notAPlugin = 1;\n",
    });
    const missing = await scenario(root, "missing", pluginList(["./not_there.ts"]));
    const broken = await scenario(root, "broken", pluginList(["./broken.ts"]), {
      "broken.ts": "export const plugin = {;\n",
    });
    const invalid = await scenario(root, "invalid", pluginList(["./invalid.ts"]), {
      "invalid.ts": pluginModule({ name: "Not A Package Name", provides: ["clock"] }),
    });
    const unknownBuiltin = await scenario(root, "unknown-builtin", pluginList(["builtin:nope"]));
    const noKey = await scenario(root, "no-key", { tasks: {} });
    const noFile = await scenario(root, "no-deno-json", null);

    const run = (dir: string, ...args: string[]) => () => runCli(args, { cwd: dir });
    const r = await inParallelByName({
      goodList: run(good, "plugins"),
      goodJson: run(good, "plugins", "--json"),
      goodCheck: run(good, "check", "-c", "proxy.yaml"),
      goodId: run(good, "id"),
      goodOptions: run(good, "check", "-c", "options.yaml"),
      badOptions: run(good, "check", "-c", "bad_options.yaml"),
      unknownOption: run(good, "check", "-c", "unknown_option.yaml"),
      absentPlugin: run(good, "check", "-c", "absent_plugin.yaml"),
      futureCheck: run(future, "check", "-c", "proxy.yaml"),
      futureId: run(future, "id"),
      needyCheck: run(needy, "check", "-c", "proxy.yaml"),
      ambiguousCheck: run(ambiguous, "check", "-c", "proxy.yaml"),
      ambiguousId: run(ambiguous, "id"),
      chooseOurs: run(ambiguous, "check", "-c", "choose_ours.yaml"),
      chooseBuiltin: run(ambiguous, "check", "-c", "choose_builtin.yaml"),
      noExportList: run(noExport, "plugins"),
      missingList: run(missing, "plugins"),
      brokenList: run(broken, "plugins"),
      invalidList: run(invalid, "plugins"),
      unknownBuiltinList: run(unknownBuiltin, "plugins"),
      noKeyJson: run(noKey, "plugins", "--json"),
      noFileList: run(noFile, "plugins"),
    });

    await t.step("a local plugin is listed with what it provides and requires", () => {
      assert.equal(r.goodList.code, EXIT_OK, describe(r.goodList));
      assert.ok(r.goodList.stdout.includes(`plugins from: ${join(good, "deno.json")}`));
      const block = r.goodList.stdout.split("\n\n").find((b) => b.includes("@acme/fixed-identity"));
      assert.ok(block, r.goodList.stdout);
      assert.match(block, /@acme\/fixed-identity 1\.2\.3 \(plugin API 1\)/);
      assert.match(block, /provides: identity$/m);
      assert.match(block, /requires: clock$/m);

      const listed = rowsOf(r.goodJson);
      const names = [
        "@acme/fixed-identity",
        ...PROXY_BUILTINS.map((s) => s.replace("builtin:", "@p2proxy/")),
      ];
      assert.deepEqual(listed.plugins.map((p) => p.name), names);
      const ours = listed.plugins[0]!;
      assert.deepEqual([ours.provides, ours.requires], [["identity"], ["clock"]]);
    });

    await t.step(
      "the local plugin is composed: check passes and id prints its peer id",
      async () => {
        assert.equal(r.goodCheck.code, EXIT_OK, describe(r.goodCheck));
        assert.match(r.goodCheck.stdout, /proxy\.yaml: OK/);
        assert.equal(r.goodId.code, EXIT_OK, describe(r.goodId));
        assert.equal(r.goodId.stdout.trim(), FIXED_PEER);
        assert.equal(await exists(join(good, "node_keypair.bin")), false);
      },
    );

    await t.step("plugin options from the config are validated by the plugin", () => {
      assert.equal(r.goodOptions.code, EXIT_OK, describe(r.goodOptions));
      assertRefused(r.badOptions, `"@acme/fixed-identity"`, "peer_id");
      assertRefused(r.unknownOption, `"@acme/fixed-identity"`, "colour");
      assertRefused(r.absentPlugin, `"@acme/absent"`, /no plugin .*loaded/);
    });

    await t.step("a plugin for another API major is refused before anything starts", async () => {
      assertRefused(r.futureCheck, `"@acme/future"`, /API 2\b/);
      assertRefused(r.futureId, `"@acme/future"`);
      assert.equal(await exists(join(future, "node_keypair.bin")), false);
    });

    await t.step("a required capability that nothing provides", () => {
      assertRefused(r.needyCheck, `"@acme/needy-sticky"`, `"peer-directory"`);
    });

    await t.step("two providers of one capability need a choice in the config", async () => {
      assertRefused(
        r.ambiguousCheck,
        `"@acme/fixed-identity"`,
        `"@p2proxy/identity-file"`,
        `"identity"`,
        "providers",
      );
      assertRefused(r.ambiguousId, `"identity"`);
      assert.equal(await exists(join(ambiguous, "node_keypair.bin")), false);
      assert.equal(r.chooseOurs.code, EXIT_OK, describe(r.chooseOurs));
      assert.equal(r.chooseBuiltin.code, EXIT_OK, describe(r.chooseBuiltin));
    });

    await t.step("modules that are not plugins, or cannot be imported", () => {
      assertRefused(r.noExportList, `"./empty.ts"`, /exports no plugin/);
      assertRefused(r.missingList, `"./not_there.ts"`);
      assertRefused(r.brokenList, `"./broken.ts"`);
      assertRefused(r.invalidList, `"Not A Package Name"`);
      assertRefused(r.unknownBuiltinList, `"builtin:nope"`, "builtin:sticky-file");
    });

    await t.step("without a p2proxy key in deno.json, or without deno.json, the built-ins", () => {
      const builtins = BUILTIN_PLUGINS.map((p) => p.name);
      const listed = rowsOf(r.noKeyJson);
      assert.equal(listed.source, "builtin");
      assert.deepEqual(listed.plugins.map((p) => p.name), builtins);
      assert.equal(r.noFileList.code, EXIT_OK, describe(r.noFileList));
      assert.match(r.noFileList.stdout, /^plugins from: builtin$/m);
      for (const name of builtins) assert.ok(r.noFileList.stdout.includes(`\n${name} `), name);
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
