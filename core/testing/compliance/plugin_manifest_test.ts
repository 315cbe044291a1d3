import assert from "node:assert/strict";
import { z } from "zod";
import { definePlugin, PLUGIN_API_VERSION, type PluginDefinition } from "../../plugin/contract.ts";
import { FakeClock } from "../fakes.ts";
import { pluginManifestCompliance, type PluginManifestFixture } from "./plugin_manifest.ts";
import { recordingContext } from "./_recording_context.ts";

const STATE_DIR = "/var/lib/p2proxy-compliance";

/** A well-behaved plugin; `overrides` break one thing at a time. */
// deno-lint-ignore no-explicit-any
function aPlugin(overrides: Partial<PluginDefinition<any, any>> = {}) {
  const started: string[] = [];
  const plugin = {
    name: "@test/clock-wrapper",
    version: "1.0.0",
    api: PLUGIN_API_VERSION,
    description: "A clock that wraps the one it requires.",
    provides: ["clock"],
    requires: ["identity"],
    options: z.strictObject({ file: z.string().min(1).default("clock.json") }),
    permissions: (o: { file: string }, ctx: { stateDir: string }) => ({
      read: [`${ctx.stateDir}/${o.file}`],
      env: ["P2PROXY_CLOCK", "P2PROXY_*"],
    }),
    create: (_o: unknown, ctx: { get(c: string): unknown }) => {
      ctx.get("identity");
      return {
        provides: { clock: new FakeClock() },
        start: () => void started.push("start"),
        stop: () => void started.push("stop"),
      };
    },
    ...overrides,
  } as unknown as PluginDefinition;
  return { plugin, started };
}

async function failedSteps(
  fixture: Partial<PluginManifestFixture> & Pick<PluginManifestFixture, "plugin">,
) {
  const recording = recordingContext();
  await pluginManifestCompliance(recording.t, () => ({ stateDir: STATE_DIR, ...fixture }));
  return recording.failed();
}

Deno.test("a well-behaved plugin passes the manifest compliance suite", async (t) => {
  const { plugin, started } = aPlugin();
  const module = { plugin, default: plugin };
  await pluginManifestCompliance(t, () => ({ plugin, module, stateDir: STATE_DIR }));
  // Created for three steps: stopped each time, started once.
  assert.deepEqual(started, ["stop", "start", "stop", "stop"]);
});

Deno.test("the manifest suite runs with a real definePlugin and a fixture's own requires", async (t) => {
  const clock = new FakeClock(5);
  const plugin = definePlugin({
    name: "@test/offset-clock",
    version: "0.0.1",
    api: PLUGIN_API_VERSION,
    description: "A clock one hour ahead of the one it requires.",
    provides: ["clock"],
    requires: ["clock"],
    options: z.strictObject({ url: z.url() }),
    permissions: (o) => ({ net: [new URL(o.url).host] }),
    create: (_o, ctx) => ({ provides: { clock: ctx.get("clock") } }),
  });
  // A plugin cannot require what it provides: this one fails exactly that step.
  const recording = recordingContext();
  await pluginManifestCompliance(recording.t, () => ({
    plugin,
    stateDir: STATE_DIR,
    requiredOptions: { url: "http://127.0.0.1:1" },
    requires: { clock },
  }));
  assert.deepEqual(recording.failed(), ["the declaration is valid for this plugin API"]);
  await t.step("the rest passed", () => assert.equal(recording.outcomes.length, 8));
});

Deno.test("the manifest suite fails a plugin built for another API, or without a description", async () => {
  for (const overrides of [{ api: PLUGIN_API_VERSION + 1 }, { description: " " }]) {
    assert.deepEqual(await failedSteps({ plugin: aPlugin(overrides).plugin }), [
      "the declaration is valid for this plugin API",
    ]);
  }
});

Deno.test("the manifest suite fails a module whose exports the loader does not find", async () => {
  const { plugin } = aPlugin();
  const other = aPlugin().plugin;
  for (const module of [{ plugin: other }, { plugin, default: other }, { helper: plugin }]) {
    assert.deepEqual(await failedSteps({ plugin, module }), [
      "the CLI's plugin loader finds it in its module",
    ]);
  }
});

Deno.test("the manifest suite fails options without defaults, loose options, unstable defaults", async () => {
  const required = aPlugin({ options: z.strictObject({ url: z.string() }) }).plugin;
  const failed = await failedSteps({ plugin: required });
  assert.ok(failed.includes("the options schema accepts its defaults, and its output again"));

  const loose = aPlugin({ options: z.object({ file: z.string().default("clock.json") }) }).plugin;
  assert.deepEqual(await failedSteps({ plugin: loose }), ["unknown option keys are refused"]);

  // A default that does not parse again: the host's parsed options would be refused on reload.
  const unstable = aPlugin({
    options: z.strictObject({ size: z.number().default(1).transform((n) => String(n)) }),
    permissions: () => ({}),
  }).plugin;
  assert.deepEqual(await failedSteps({ plugin: unstable }), [
    "the options schema accepts its defaults, and its output again",
  ]);
});

Deno.test("the manifest suite wants `{}` refused naming the required option", async () => {
  // A refusal without a path or a name: the host could only say "(options): Incomplete.".
  const vague = aPlugin({
    options: z.strictObject({ url: z.string().optional() }).refine((o) => o.url !== undefined, {
      message: "Incomplete.",
    }),
    permissions: () => ({}),
  }).plugin;
  assert.deepEqual(await failedSteps({ plugin: vague, requiredOptions: { url: "x" } }), [
    "the options schema accepts its defaults, and its output again",
  ]);
  // The path names it: the host prints "url: Required.".
  const clear = aPlugin({
    options: z.strictObject({ url: z.string({ error: "Required." }) }),
    permissions: () => ({}),
  }).plugin;
  assert.deepEqual(await failedSteps({ plugin: clear, requiredOptions: { url: "x" } }), []);
});

Deno.test("the manifest suite fails broad permissions unless declared, and stale declarations", async () => {
  const NARROW = "the permissions for the default options are narrow";
  const withPermissions = (permissions: Record<string, string[]>) =>
    aPlugin({ permissions: () => permissions }).plugin;
  for (
    const permissions of <Array<Record<string, string[]>>> [
      { net: ["*"] },
      { env: ["*"] },
      { env: ["DENO_*"] },
      { read: ["/etc/passwd"] },
      { write: [`${STATE_DIR}/../elsewhere`] },
      { sys: ["*"] },
      { ffi: ["x"] },
    ]
  ) {
    assert.deepEqual(await failedSteps({ plugin: withPermissions(permissions) }), [NARROW]);
  }
  const declared = { net: "Every destination of the exit.", env: "A library lists the env." };
  assert.deepEqual(
    await failedSteps({
      plugin: withPermissions({ net: ["*"], env: ["*"] }),
      broadPermissions: declared,
    }),
    [],
  );
  assert.deepEqual(
    await failedSteps({
      plugin: withPermissions({ net: ["127.0.0.1:1"] }),
      broadPermissions: declared,
    }),
    [NARROW],
    "a declared exception the plugin does not use",
  );
  assert.deepEqual(
    await failedSteps({
      plugin: withPermissions({ read: ["/etc/ca.pem"] }),
      broadPermissions: { read: "" },
    }),
    [NARROW],
    "an exception needs a reason",
  );
});

Deno.test("the manifest suite fails create that yields other capabilities or asks for undeclared ones", async () => {
  const CREATE = "create yields exactly the declared capabilities, asking only for its requires";
  const extra = aPlugin({
    create: () => ({ provides: { clock: new FakeClock(), resolver: {} } }),
  }).plugin;
  assert.deepEqual(await failedSteps({ plugin: extra }), [CREATE]);
  const missing = aPlugin({ create: () => ({ provides: {} }) }).plugin;
  assert.deepEqual(await failedSteps({ plugin: missing }), [CREATE]);
  const nosy = aPlugin({
    create: (_o: unknown, ctx: { get(c: string): unknown }) => {
      try {
        ctx.get("network");
      } catch { /* a plugin that swallows the refusal is still caught */ }
      return { provides: { clock: new FakeClock() } };
    },
  }).plugin;
  assert.deepEqual(await failedSteps({ plugin: nosy }), [CREATE]);
  const needsUnfakeable = aPlugin({ requires: ["network"], create: () => ({ provides: {} }) })
    .plugin;
  assert.ok((await failedSteps({ plugin: needsUnfakeable })).includes(CREATE));
});

Deno.test("the manifest suite fails a plugin whose start or stop throws", async () => {
  const failingStart = aPlugin({
    create: () => ({
      provides: { clock: new FakeClock() },
      start: () => Promise.reject(new Error("cannot start")),
    }),
  }).plugin;
  assert.deepEqual(await failedSteps({ plugin: failingStart }), ["start then stop work"]);
  const stopNeedsStart = aPlugin({
    create: () => {
      let started = false;
      return {
        provides: { clock: new FakeClock() },
        start: () => void (started = true),
        stop: () => {
          if (!started) throw new Error("stop before start");
        },
      };
    },
  }).plugin;
  assert.deepEqual(await failedSteps({ plugin: stopNeedsStart }), [
    "create yields exactly the declared capabilities, asking only for its requires",
    "stop works without start (the host stops plugins that never started)",
  ]);
});
