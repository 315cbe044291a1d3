/**
 * The third-party plugin example (`examples/plugin-sticky-jsonl/`, docs/plugins.md#a-plugin-walked-through)
 * works from its own folder, as a published plugin's repository would: a copy of the folder, its
 * `links` pointed at this checkout, passes its own `deno fmt --check`, `deno lint` and `deno task
 * test` (the sticky-store and manifest compliance suites from `jsr:@p2proxy/p2proxy/testing`), and
 * `deno publish --dry-run` would ship it. It imports the package only by its published name.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
const EXAMPLE = join(ROOT, "examples", "plugin-sticky-jsonl");

/** Bound on one deno command in the copy (the first one installs its npm packages). */
const COMMAND_TIMEOUT_MS = 120_000;

/** Files of the example worth copying: its sources and config, not what a run leaves behind. */
const LEFT_BEHIND = new Set(["node_modules", "deno.lock"]);

interface Run {
  readonly code: number;
  readonly output: string;
}

/** `deno <args>` in `cwd`, killed after {@link COMMAND_TIMEOUT_MS}; stdout and stderr together. */
async function deno(args: readonly string[], cwd: string): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...args],
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, COMMAND_TIMEOUT_MS);
  try {
    const result = await child.output();
    const decoder = new TextDecoder();
    return {
      code: result.code,
      output: decoder.decode(result.stdout) + decoder.decode(result.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Copies the example into a temp folder, its `links` resolved to this checkout. */
async function copyOfExample(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "p2proxy-plugin-example-" });
  for await (const entry of Deno.readDir(EXAMPLE)) {
    if (LEFT_BEHIND.has(entry.name)) continue;
    assert.ok(entry.isFile, `the example keeps its files at the top: ${entry.name}`);
    await Deno.copyFile(join(EXAMPLE, entry.name), join(dir, entry.name));
  }
  const config = JSON.parse(await Deno.readTextFile(join(dir, "deno.json")));
  await Deno.writeTextFile(
    join(dir, "deno.json"),
    JSON.stringify({ ...config, links: [ROOT] }, null, 2),
  );
  return dir;
}

Deno.test("the example plugin's folder links this package and imports it only by its published name", async () => {
  const config = JSON.parse(await Deno.readTextFile(join(EXAMPLE, "deno.json")));
  assert.deepEqual(
    config.links.map((link: string) => resolve(EXAMPLE, link)),
    [ROOT],
    "links point at the checkout",
  );
  assert.equal(config.nodeModulesDir, "auto");
  for await (const entry of Deno.readDir(EXAMPLE)) {
    if (!entry.name.endsWith(".ts")) continue;
    const text = await Deno.readTextFile(join(EXAMPLE, entry.name));
    for (const [, specifier] of text.matchAll(/from "([^"]+)"/g)) {
      const local = specifier!.startsWith("./") && !specifier!.includes("..");
      const published = /^(@p2proxy\/p2proxy(\/testing)?|zod|node:assert\/strict)$/.test(
        specifier!,
      );
      assert.ok(local || published, `${entry.name} imports "${specifier}"`);
    }
  }
  const root = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  assert.ok(root.exclude.includes("examples/"), "the root project leaves the example to itself");
  assert.ok(
    !root.publish.include.some((path: string) => relative("examples", path) === ""),
    "the package does not ship the example",
  );
});

Deno.test("the example plugin passes fmt, lint, its compliance tests and a publish dry run from its own folder", async (t) => {
  const dir = await copyOfExample();
  try {
    await t.step("deno fmt --check and deno lint", async () => {
      // The copy's deno.json was rewritten here: format it as the original is, then check all.
      assert.equal((await deno(["fmt", "deno.json"], dir)).code, 0);
      const fmt = await deno(["fmt", "--check"], dir);
      assert.equal(fmt.code, 0, fmt.output);
      const lint = await deno(["lint"], dir);
      assert.equal(lint.code, 0, lint.output);
    });
    await t.step(
      "deno task test: the port's and the manifest's compliance suites pass",
      async () => {
        const test = await deno(["task", "test"], dir);
        assert.equal(test.code, 0, test.output);
        assert.match(
          test.output,
          /JsonlStickyStore passes the sticky-store compliance suite \.\.\. ok/,
        );
        assert.match(
          test.output,
          /the plugin's manifest passes the manifest compliance suite \.\.\. ok/,
        );
        assert.match(test.output, /keeps its record across a reopen \.\.\. ok/);
        assert.match(test.output, /the host composes it for a proxy.* \.\.\. ok/);
        assert.match(test.output, /\| 0 failed/);
      },
    );
    await t.step("deno publish --dry-run ships the plugin, not its tests", async () => {
      // `deno task test` type-checked it; the dry run still checks for slow types.
      const publish = await deno(["publish", "--dry-run", "--allow-dirty", "--no-check"], dir);
      assert.equal(publish.code, 0, publish.output);
      assert.match(publish.output, /Simulating publish of @example\/sticky-jsonl@0\.1\.0/);
      assert.match(publish.output, /mod\.ts/);
      assert.doesNotMatch(publish.output, /_test\.ts|warning/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
