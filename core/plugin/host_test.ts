import assert from "node:assert/strict";
import { z } from "zod";
import {
  type CapabilityName,
  definePlugin,
  PLUGIN_API_VERSION,
  type PluginContext,
  type PluginDefinition,
  PluginError,
  type RoleSettings,
} from "./contract.ts";
import { Composition, planComposition, planPermissions } from "./host.ts";

const clockPort = { now: () => 0, sleep: () => Promise.resolve() };

/** A plugin for the test; overrides are loosely typed so a test can declare any capability. */
function aPlugin(overrides: { name: string; [key: string]: unknown }): PluginDefinition {
  return {
    version: "1.0.0",
    api: PLUGIN_API_VERSION,
    description: "test plugin",
    provides: ["clock"] as CapabilityName[],
    options: z.object({}).strict(),
    create: () => ({ provides: { clock: clockPort } }),
    ...overrides,
  } as unknown as PluginDefinition;
}

function rejection(fn: () => unknown): PluginError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof PluginError, `expected a PluginError, got ${error}`);
    return error;
  }
  assert.fail("expected a rejection");
}

Deno.test("definePlugin rejects a malformed declaration, naming the plugin", () => {
  const error = rejection(() =>
    definePlugin({ ...aPlugin({ name: "@t/bad" }), version: "one", provides: [] } as never)
  );
  assert.equal(error.code, "invalid-definition");
  assert.equal(error.plugin, "@t/bad");
  assert.match(error.message, /version must be semver/);
  assert.match(error.message, /provides must list/);
});

Deno.test("a plugin built for another API major is rejected", () => {
  const error = rejection(() =>
    planComposition({
      plugins: [aPlugin({ name: "@t/old", api: PLUGIN_API_VERSION + 1 })],
      needs: ["clock"],
    })
  );
  assert.equal(error.code, "api-mismatch");
  assert.equal(error.plugin, "@t/old");
  assert.match(error.message, /built for plugin API 2/);
});

Deno.test("a missing required capability names the plugin that requires it", () => {
  const needy = aPlugin({ name: "@t/needy", provides: ["sticky-store"], requires: ["identity"] });
  const error = rejection(() => planComposition({ plugins: [needy], needs: ["sticky-store"] }));
  assert.equal(error.code, "missing-capability");
  assert.equal(error.plugin, "@t/needy");
  assert.match(error.message, /requires "identity"/);
});

Deno.test("a capability the role needs and nobody provides is rejected", () => {
  const error = rejection(() =>
    planComposition({ plugins: [aPlugin({ name: "@t/a" })], needs: ["identity"] })
  );
  assert.equal(error.code, "missing-capability");
  assert.match(error.message, /This role needs "identity"/);
});

Deno.test("two providers without a choice are rejected; a choice resolves it", () => {
  const plugins = [aPlugin({ name: "@t/a" }), aPlugin({ name: "@t/b" })];
  const error = rejection(() => planComposition({ plugins, needs: ["clock"] }));
  assert.equal(error.code, "ambiguous-provider");
  assert.match(error.message, /"@t\/a" and "@t\/b"/);
  assert.match(error.message, /providers/);
  const plan = planComposition({ plugins, needs: ["clock"], choices: { clock: "@t/b" } });
  assert.equal(plan.providers.get("clock"), "@t/b");
  assert.deepEqual(plan.entries.map((e) => e.plugin.name), ["@t/b"]);
});

Deno.test("a choice naming an unknown plugin, or one that does not provide it, is rejected", () => {
  const plugins = [aPlugin({ name: "@t/a" })];
  assert.equal(
    rejection(() => planComposition({ plugins, needs: ["clock"], choices: { clock: "@t/zzz" } }))
      .code,
    "unknown-provider",
  );
  assert.equal(
    rejection(() => planComposition({ plugins, needs: ["clock"], choices: { identity: "@t/a" } }))
      .code,
    "unknown-provider",
  );
});

Deno.test("bad options are rejected with the plugin name and the option path", () => {
  const plugin = aPlugin({
    name: "@t/opts",
    options: z.object({ size: z.number().int().positive().default(3) }).strict(),
  });
  const error = rejection(() =>
    planComposition({ plugins: [plugin], needs: ["clock"], options: { "@t/opts": { size: -1 } } })
  );
  assert.equal(error.code, "bad-options");
  assert.equal(error.plugin, "@t/opts");
  assert.match(error.message, /size:/);
  const unknownKey = rejection(() =>
    planComposition({ plugins: [plugin], needs: ["clock"], options: { "@t/opts": { sise: 1 } } })
  );
  assert.equal(unknownKey.code, "bad-options");
  const plan = planComposition({ plugins: [plugin], needs: ["clock"] });
  assert.deepEqual(plan.entries[0]!.options, { size: 3 });
});

Deno.test("options for a plugin that is not loaded are rejected", () => {
  const error = rejection(() =>
    planComposition({
      plugins: [aPlugin({ name: "@t/a" })],
      needs: ["clock"],
      options: { "@t/ghost": {} },
    })
  );
  assert.equal(error.code, "unknown-plugin");
  assert.equal(error.plugin, "@t/ghost");
});

Deno.test("duplicate names and dependency cycles are rejected", () => {
  assert.equal(
    rejection(() =>
      planComposition({
        plugins: [aPlugin({ name: "@t/a" }), aPlugin({ name: "@t/a" })],
        needs: [],
      })
    )
      .code,
    "duplicate-plugin",
  );
  const a = aPlugin({ name: "@t/a", provides: ["clock"], requires: ["identity"] });
  const b = aPlugin({ name: "@t/b", provides: ["identity"], requires: ["clock"] });
  assert.equal(
    rejection(() => planComposition({ plugins: [a, b], needs: ["clock"] })).code,
    "dependency-cycle",
  );
});

Deno.test("plugins are created in dependency order, started in order and stopped in reverse", async () => {
  const log: string[] = [];
  const clock = aPlugin({
    name: "@t/clock",
    create: () => {
      log.push("create clock");
      return {
        provides: { clock: clockPort },
        start: () => void log.push("start clock"),
        stop: () => void log.push("stop clock"),
      };
    },
  });
  const store = aPlugin({
    name: "@t/store",
    provides: ["sticky-store"],
    requires: ["clock"],
    permissions: () => ({ read: ["/state"], write: ["/state"] }),
    create: (_o: unknown, ctx: PluginContext) => {
      assert.equal(ctx.get("clock"), clockPort);
      assert.throws(() => ctx.get("identity"), /without declaring it/);
      log.push("create store");
      const port = {
        load: () => Promise.resolve({ version: 1 as const, servers: {} }),
        save: () => Promise.resolve(),
      };
      return {
        provides: { "sticky-store": port },
        start: () => void log.push("start store"),
        stop: () => void log.push("stop store"),
      };
    },
  });
  const plan = planComposition({ plugins: [store, clock], needs: ["sticky-store"] });
  assert.deepEqual(planPermissions(plan, { stateDir: "/state", role: "proxy" }), {
    read: ["/state"],
    write: ["/state"],
  });
  const composition = await Composition.create(plan, { stateDir: "/state", role: "proxy" });
  await composition.start();
  assert.equal(composition.get("clock"), clockPort);
  await composition.stop();
  await composition.stop();
  assert.deepEqual(log, [
    "create clock",
    "create store",
    "start clock",
    "start store",
    "stop store",
    "stop clock",
  ]);
});

Deno.test("a plugin whose create throws is reported by name and earlier plugins are stopped", async () => {
  const stopped: string[] = [];
  const clock = aPlugin({
    name: "@t/clock",
    create: () => ({ provides: { clock: clockPort }, stop: () => void stopped.push("clock") }),
  });
  const broken = aPlugin({
    name: "@t/broken",
    provides: ["identity"],
    requires: ["clock"],
    create: () => {
      throw new Error("disk on fire");
    },
  });
  const plan = planComposition({ plugins: [clock, broken], needs: ["identity"] });
  await assert.rejects(
    Composition.create(plan, { stateDir: ".", role: "proxy" }),
    (error: unknown) =>
      error instanceof PluginError && error.plugin === "@t/broken" &&
      /disk on fire/.test(error.message),
  );
  assert.deepEqual(stopped, ["clock"]);
});

Deno.test("every provider of event-sink serves at once, fanned out", async () => {
  const seen: string[] = [];
  const sink = (name: string) =>
    aPlugin({
      name,
      provides: ["event-sink"],
      create: () => ({
        provides: {
          "event-sink": { emit: (e: { type: string }) => void seen.push(`${name}:${e.type}`) },
        },
      }),
    });
  const plan = planComposition({ plugins: [sink("@t/a"), sink("@t/b")], needs: ["event-sink"] });
  assert.deepEqual(plan.entries.map((e) => e.plugin.name), ["@t/a", "@t/b"]);
  const composition = await Composition.create(plan, { stateDir: ".", role: "proxy" });
  composition.get("event-sink").emit({ type: "connection-connecting" });
  assert.deepEqual(seen, ["@t/a:connection-connecting", "@t/b:connection-connecting"]);
  await composition.stop();
  const none = rejection(() => planComposition({ plugins: [], needs: ["event-sink"] }));
  assert.equal(none.code, "missing-capability");
});

/** A proxy's loaded config, as far as these tests' `configure` hooks read it. */
const PROXY_SETTINGS = {
  role: "proxy",
  config: { listenAddrs: ["/ip4/127.0.0.1/tcp/4001"], metricsPort: 9091 },
} as unknown as RoleSettings;

Deno.test("each chosen plugin maps the role's config to its options; the config's plugins win", () => {
  const seen: string[] = [];
  const mapped = aPlugin({
    name: "@t/mapped",
    options: z.object({ listen: z.array(z.string()).default([]), size: z.number().default(1) })
      .strict(),
    configure: (settings: RoleSettings) => {
      seen.push(settings.role);
      return {
        listen: (settings.config as unknown as { listenAddrs: string[] }).listenAddrs,
        size: 2,
      };
    },
  });
  const unchosen = aPlugin({
    name: "@t/unchosen",
    provides: ["identity"],
    configure: () => assert.fail("configure runs only for a chosen plugin"),
  });
  const plan = planComposition({
    plugins: [mapped, unchosen],
    needs: ["clock"],
    settings: PROXY_SETTINGS,
    options: { "@t/mapped": { size: 3 } },
  });
  assert.deepEqual(plan.entries[0]!.options, { listen: ["/ip4/127.0.0.1/tcp/4001"], size: 3 });
  assert.deepEqual(seen, ["proxy"]);
  const wrong = aPlugin({
    name: "@t/wrong",
    options: z.object({ size: z.number() }).strict(),
    configure: () => ({ size: "big" }),
  });
  const error = rejection(() =>
    planComposition({ plugins: [wrong], needs: ["clock"], settings: PROXY_SETTINGS })
  );
  assert.equal(error.code, "bad-options");
  assert.equal(error.plugin, "@t/wrong");
});

Deno.test("a plugin's wants: created after a chosen provider, found; never chosen by the want", async () => {
  const token = { token: () => Promise.resolve("t") };
  const found: unknown[] = [];
  const directory = aPlugin({
    name: "@t/directory",
    provides: ["peer-directory"],
    wants: ["authenticator"],
    create: (_o: unknown, ctx: PluginContext) => {
      found.push(ctx.find("authenticator"));
      assert.throws(() => ctx.find("identity"), /requires or wants/);
      return { provides: { "peer-directory": {} } };
    },
  });
  const auth = (name: string) =>
    aPlugin({
      name,
      provides: ["authenticator"],
      create: () => ({ provides: { authenticator: token } }),
    });
  // Two authenticators and no choice: the want alone picks none (no ambiguity error).
  const without = planComposition({
    plugins: [directory, auth("@t/a"), auth("@t/b")],
    needs: ["peer-directory"],
  });
  assert.deepEqual(without.entries.map((e) => e.plugin.name), ["@t/directory"]);
  await (await Composition.create(without, { stateDir: ".", role: "proxy" })).stop();
  // With the role wanting one, it is created first and handed over.
  const withAuth = planComposition({
    plugins: [directory, auth("@t/a"), auth("@t/b")],
    needs: ["peer-directory"],
    wants: ["authenticator"],
    choices: { authenticator: "@t/b" },
  });
  assert.deepEqual(withAuth.entries.map((e) => e.plugin.name), ["@t/b", "@t/directory"]);
  await (await Composition.create(withAuth, { stateDir: ".", role: "proxy" })).stop();
  assert.deepEqual(found, [undefined, token]);
});

Deno.test("a given capability chooses no plugin, and plugins that require it get the caller's port", async () => {
  const given = {
    now: () => 42,
    sleep: () => Promise.resolve(),
    setTimer: () => ({ cancel() {} }),
  };
  const clock = aPlugin({
    name: "@t/clock",
    create: () => assert.fail("a given clock is not created"),
  });
  const store = aPlugin({
    name: "@t/store",
    provides: ["sticky-store"],
    requires: ["clock"],
    create: (_o: unknown, ctx: PluginContext) => {
      assert.equal(ctx.get("clock"), given);
      return { provides: { "sticky-store": {} } };
    },
  });
  const plan = planComposition({
    plugins: [clock, store],
    needs: ["clock", "sticky-store"],
    given: ["clock"],
  });
  assert.deepEqual(plan.entries.map((e) => e.plugin.name), ["@t/store"]);
  const composition = await Composition.create(plan, { stateDir: ".", role: "proxy" }, {
    clock: given,
  });
  assert.equal(composition.get("clock"), given);
  await composition.stop();
});

Deno.test("every inbound door is served at once: all() lists each provider's port", async () => {
  const door = (name: string) =>
    aPlugin({
      name,
      provides: ["inbound"],
      create: () => ({ provides: { inbound: { protocol: name.slice(3) } } }),
    });
  const plan = planComposition({
    plugins: [door("@t/socks5"), door("@t/http")],
    needs: ["inbound"],
  });
  const composition = await Composition.create(plan, { stateDir: ".", role: "proxy" });
  assert.deepEqual(composition.all("inbound").map((d) => d.protocol), ["socks5", "http"]);
  await composition.stop();
});

Deno.test("role services start after the plugins and stop before them, in reverse, with the grace", async () => {
  const log: string[] = [];
  const clock = aPlugin({
    name: "@t/clock",
    create: () => ({
      provides: { clock: clockPort },
      start: () => void log.push("start clock"),
      stop: () => void log.push("stop clock"),
    }),
  });
  const plan = planComposition({ plugins: [clock], needs: ["clock"] });
  const composition = await Composition.create(plan, { stateDir: ".", role: "proxy" });
  await composition.start();
  const service = (name: string) => ({
    stop: (graceMs?: number) => void log.push(`stop ${name} (${graceMs})`),
  });
  await composition.startService("node", () => (log.push("start node"), service("node")));
  await composition.startService(
    "registrar",
    () => (log.push("start registrar"), service("registrar")),
  );
  await composition.stop(10_000);
  assert.deepEqual(log, [
    "start clock",
    "start node",
    "start registrar",
    "stop registrar (10000)",
    "stop node (10000)",
    "stop clock",
  ]);
});

Deno.test("a service that fails to start stops what was started, and the error is passed on", async () => {
  const stopped: string[] = [];
  const clock = aPlugin({
    name: "@t/clock",
    create: () => ({ provides: { clock: clockPort }, stop: () => void stopped.push("clock") }),
  });
  const composition = await Composition.create(
    planComposition({ plugins: [clock], needs: ["clock"] }),
    { stateDir: ".", role: "proxy" },
  );
  await composition.start();
  await composition.startService("node", () => ({ stop: () => void stopped.push("node") }));
  await assert.rejects(
    composition.startService("listeners", () => {
      throw new Error("port in use");
    }),
    /port in use/,
  );
  assert.deepEqual(stopped, ["node", "clock"]);
  await assert.rejects(composition.startService("late", () => ({ stop() {} })), /stopping/);
});

Deno.test("a wrapper is chosen over what it wraps, gets the wrapped port, and is created after it", async () => {
  const innerPort = { kind: "inner" };
  const seen: unknown[] = [];
  const inner = aPlugin({
    name: "@t/inner",
    provides: ["network", "dialer"],
    create: () => ({ provides: { network: innerPort, dialer: innerPort } }),
  });
  const wrapper = aPlugin({
    name: "@t/wrapper",
    provides: ["network"],
    wraps: ["network"],
    create: (_o: unknown, ctx: PluginContext) => {
      seen.push(ctx.get("network"));
      return { provides: { network: { kind: "outer", inner: ctx.get("network") } } };
    },
  });
  for (const plugins of [[wrapper, inner], [inner, wrapper]]) {
    const plan = planComposition({ plugins, needs: ["dialer", "network"] });
    assert.equal(plan.providers.get("network"), "@t/wrapper");
    assert.equal(plan.providers.get("dialer"), "@t/inner");
    assert.equal(plan.wrapped.get("@t/wrapper")?.get("network"), "@t/inner");
    assert.deepEqual(plan.entries.map((e) => e.plugin.name), ["@t/inner", "@t/wrapper"]);
    const composition = await Composition.create(plan, { stateDir: ".", role: "proxy" });
    assert.deepEqual(composition.get("network"), { kind: "outer", inner: innerPort });
    await composition.stop();
  }
  assert.deepEqual(seen, [innerPort, innerPort], "the wrapper got the inner port");
  // The config may still choose the wrapped plugin itself: then the wrapper is not used.
  const plain = planComposition({
    plugins: [wrapper, inner],
    needs: ["network"],
    choices: { network: "@t/inner" },
  });
  assert.deepEqual(plain.entries.map((e) => e.plugin.name), ["@t/inner"]);
});

Deno.test("a wrapper with nothing to wrap is refused, and wraps must be provided", () => {
  const wrapper = aPlugin({ name: "@t/wrapper", provides: ["network"], wraps: ["network"] });
  const error = rejection(() => planComposition({ plugins: [wrapper], needs: ["network"] }));
  assert.equal(error.code, "missing-capability");
  assert.match(error.message, /wraps "network", but no other loaded plugin provides it/);
  const stray = rejection(() =>
    definePlugin({ ...aPlugin({ name: "@t/stray" }), wraps: ["network"] } as never)
  );
  assert.equal(stray.code, "invalid-definition");
  assert.match(stray.message, /wraps names capabilities it does not provide \(network\)/);
});
