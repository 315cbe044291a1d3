/**
 * The single-file build (docs/plugins.md#single-file-builds): scripts/generate_registry.ts writes
 * an entry point with the configured plugins as static imports, `deno bundle` turns it into one JS
 * file, and that file runs with `deno run` anywhere. Everything goes to a temp dir, never to the
 * repo's dist/.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import manifest from "../deno.json" with { type: "json" };
import { BUILTIN_PLUGINS } from "../plugins/builtin.ts";
import { type CliResult, describe, inParallelByName, REPO_ROOT, runCli, runDeno } from "./_cli.ts";

const CONTRACT = new URL("../core/plugin/contract.ts", import.meta.url).href;
const GENERATOR = fileURLToPath(new URL("../scripts/generate_registry.ts", import.meta.url));

/** The first bundle fetches esbuild through npm; later ones take seconds. */
const BUNDLE_TIMEOUT_MS = 180_000;

/** A clock plugin that exists only in the project folder the bundle was built from. */
const ACME_CLOCK = `
import { definePlugin, PLUGIN_API_VERSION } from ${JSON.stringify(CONTRACT)};
import { z } from "npm:zod@4.6.7";

export const plugin = definePlugin({
  name: "@acme/frozen-clock",
  version: "3.1.4",
  api: PLUGIN_API_VERSION,
  description: "A clock that never moves, for the bundle test.",
  provides: ["clock"],
  options: z.object({ now_ms: z.number().default(0) }).strict(),
  create: (options) => ({
    provides: {
      clock: { now: () => options.now_ms, sleep: () => Promise.resolve() },
    },
  }),
});
`;

/** The project's plugin list: the local clock and the built-ins a proxy needs besides one. */
const PROJECT_PLUGINS = [
  "./acme_clock.ts",
  "builtin:identity-file",
  "builtin:sticky-file",
  "builtin:network-libp2p",
  "builtin:directory-hub",
  "builtin:socks5",
];

/** Generates the entry for the plugins of `dir` (with the `registry` task's permissions), then bundles it. */
async function buildBundle(dir: string, outDir: string): Promise<string> {
  await Deno.mkdir(outDir, { recursive: true });
  const entry = join(outDir, "entry.generated.ts");
  const bundle = join(outDir, "p2proxy.js");
  const generated = await runDeno([
    "run",
    "--allow-read",
    `--allow-write=${outDir}`,
    "--no-prompt",
    GENERATOR,
    "--dir",
    dir,
    "--out",
    entry,
  ]);
  assert.equal(generated.code, 0, describe(generated));
  const bundled = await runDeno(
    ["bundle", "--quiet", "--platform=deno", "-o", bundle, entry],
    { cwd: REPO_ROOT, timeoutMs: BUNDLE_TIMEOUT_MS },
  );
  assert.equal(bundled.code, 0, describe(bundled));
  return bundle;
}

function pluginNames(result: CliResult): string[] {
  assert.equal(result.code, 0, describe(result));
  return (JSON.parse(result.stdout) as { plugins: { name: string }[] }).plugins.map((p) => p.name);
}

Deno.test({
  name: "deno bundle builds one file that runs the CLI with its plugins built in",
  async fn(t) {
    const root = await Deno.makeTempDir({ prefix: "p2proxy-bundle-test-" });
    try {
      // Deeper than the output folder, so that a path meant for one resolved against the other breaks.
      const project = join(root, "workspace", "apps", "project");
      await Deno.mkdir(project, { recursive: true });
      await Deno.writeTextFile(
        join(project, "deno.json"),
        JSON.stringify({ p2proxy: { plugins: PROJECT_PLUGINS } }),
      );
      await Deno.writeTextFile(join(project, "acme_clock.ts"), ACME_CLOCK);

      // Another folder that lists the same plugins but has no plugin file.
      const elsewhere = join(root, "elsewhere");
      await Deno.mkdir(elsewhere);
      await Deno.copyFile(join(project, "deno.json"), join(elsewhere, "deno.json"));
      await Deno.writeTextFile(
        join(elsewhere, "proxy.yaml"),
        "servers:\n  - protocol: socks5\n    port: 1080\n" +
          "    destination_peers: [12D3KooWS6M2cP13vSHoPXVYbmYvhFgZowNrwyy7VkvbEUgXiXGZ]\n",
      );
      const empty = join(root, "empty");
      await Deno.mkdir(empty);

      const [plainBundle, projectBundle] = await Promise.all([
        buildBundle(REPO_ROOT, join(root, "plain")),
        buildBundle(project, join(root, "with-plugin")),
      ]);

      await t.step("the generated entry imports the project's plugin statically", async () => {
        const entry = await Deno.readTextFile(join(root, "with-plugin", "entry.generated.ts"));
        assert.match(
          entry,
          /^import \* as plugin0 from "\.\.\/workspace\/apps\/project\/acme_clock\.ts";$/m,
        );
        assert.match(entry, /"\.\/acme_clock\.ts": plugin0/);
        const plain = await Deno.readTextFile(join(root, "plain", "entry.generated.ts"));
        assert.doesNotMatch(plain, /import \* as plugin/);
      });

      const run = (bundle: string, cwd: string, ...args: string[]) => () =>
        runDeno(["run", "-A", "--no-prompt", bundle, ...args], { cwd });
      const r = await inParallelByName({
        version: run(plainBundle, empty, "--version"),
        builtins: run(plainBundle, empty, "plugins", "--json"),
        projectElsewhere: run(projectBundle, elsewhere, "plugins", "--json"),
        projectCheck: run(projectBundle, elsewhere, "check", "-c", "proxy.yaml"),
        unbundledElsewhere: () => runCli(["plugins"], { cwd: elsewhere }),
      });

      await t.step("--version", () => {
        assert.equal(r.version.code, 0, describe(r.version));
        assert.equal(r.version.stdout.trim(), manifest.version);
      });

      await t.step("plugins lists the built-ins where no deno.json lists plugins", () => {
        assert.deepEqual(pluginNames(r.builtins), BUILTIN_PLUGINS.map((p) => p.name));
      });

      await t.step("the project's plugin is inside the bundle", () => {
        const expected = ["@acme/frozen-clock", ...PROJECT_PLUGINS.slice(1).map(builtinName)];
        assert.deepEqual(pluginNames(r.projectElsewhere), expected);
        assert.equal(r.projectCheck.code, 0, describe(r.projectCheck));
        assert.match(r.projectCheck.stdout, /proxy\.yaml: OK/);
        // The unbundled CLI in the same folder proves there is no plugin file to find.
        assert.equal(r.unbundledElsewhere.code, 2, describe(r.unbundledElsewhere));
        assert.match(r.unbundledElsewhere.stderr, /"\.\/acme_clock\.ts"/);
      });
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

function builtinName(specifier: string): string {
  return specifier.replace("builtin:", "@p2proxy/");
}
