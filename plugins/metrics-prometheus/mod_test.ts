import assert from "node:assert/strict";
import {
  definitionProblems,
  PLUGIN_API_VERSION,
  type PluginDefinition,
} from "../../core/plugin/contract.ts";
import { Composition, planComposition } from "../../core/plugin/host.ts";
import { renderPermissionFlags } from "../../core/plugin/permissions.ts";
import { eventSinkCompliance } from "../../core/testing/compliance/event_sink.ts";
import { aPeerId } from "../../core/testing/builders.ts";
import { declaredNames, parseSamples, valueOf } from "./_testing.ts";
import defaultExport, {
  createMetricsEndpoint,
  metricsPermissions,
  type MetricsPluginInstance,
  plugin,
  PrometheusSink,
} from "./mod.ts";

// A concrete plugin is not assignable to the widest PluginDefinition (see plugins/builtin.ts).
const generic = plugin as unknown as PluginDefinition;
const ctx = { stateDir: "/var/lib/p2proxy", role: "proxy" as const };
const createCtx = (role: "proxy" | "exit" = "proxy") => ({
  stateDir: ".",
  role,
  get: () => assert.fail("metrics-prometheus requires nothing"),
});

/** A port that was free a moment ago (the plugin, unlike the server, reads 0 as "disabled"). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

Deno.test("metrics-prometheus is a valid plugin providing event-sink", () => {
  assert.equal(defaultExport, plugin);
  assert.deepEqual(definitionProblems(generic), []);
  assert.equal(plugin.name, "@p2proxy/metrics-prometheus");
  assert.equal(plugin.api, PLUGIN_API_VERSION);
  assert.deepEqual(plugin.provides, ["event-sink", "http-routes"]);
  assert.equal(plugin.requires, undefined);
});

Deno.test("metrics-prometheus options: defaults, strictness, loopback unless allowed", async (t) => {
  await t.step("defaults are the anchor's 127.0.0.1:9091", () => {
    assert.deepEqual(plugin.options.parse({}), {
      port: 9091,
      bind: "127.0.0.1",
      allow_remote: false,
    });
  });
  await t.step("role, IPv6 and port 0 parse", () => {
    const parsed = plugin.options.parse({ port: 0, bind: "[::1]", role: "exit" });
    assert.deepEqual(parsed, { port: 0, bind: "::1", role: "exit", allow_remote: false });
  });
  await t.step("unknown keys, bad ports, host names and unknown roles are refused", () => {
    for (
      const raw of [
        { metrics_port: 1 },
        { port: 70_000 },
        { port: -1 },
        { port: "9091" },
        { bind: "localhost" },
        { role: "relay" },
        { allow_remote: "yes" },
      ]
    ) {
      assert.equal(plugin.options.safeParse(raw).success, false, JSON.stringify(raw));
    }
  });
  await t.step("a non-loopback bind needs allow_remote", () => {
    const refused = plugin.options.safeParse({ bind: "0.0.0.0" });
    assert.equal(refused.success, false);
    assert.deepEqual(refused.error?.issues[0]?.path, ["bind"]);
    assert.match(refused.error?.issues[0]?.message ?? "", /allow_remote/);
    assert.equal(plugin.options.safeParse({ bind: "0.0.0.0", allow_remote: true }).success, true);
    assert.equal(plugin.options.safeParse({ bind: "0.0.0.0", port: 0 }).success, true, "disabled");
  });
});

Deno.test("metrics-prometheus permissions: listen on bind:port, nothing when disabled", () => {
  const permissionsOf = (raw: Record<string, unknown>) =>
    plugin.permissions?.(plugin.options.parse(raw), ctx);
  assert.deepEqual(permissionsOf({}), { net: ["127.0.0.1:9091"] });
  assert.deepEqual(permissionsOf({ port: 9100, bind: "::1" }), { net: ["[::1]:9100"] });
  assert.deepEqual(permissionsOf({ port: 0 }), {});
  assert.deepEqual(renderPermissionFlags(permissionsOf({})!), ["--allow-net=127.0.0.1:9091"]);
  assert.deepEqual(metricsPermissions(plugin.options.parse({ port: 0, bind: "::1" })), {});
});

Deno.test("the plugin's sink passes the event sink compliance suite", (t) =>
  eventSinkCompliance(t, async () => {
    const instance = await plugin.create(plugin.options.parse({ port: 0 }), createCtx());
    return { sink: instance.provides["event-sink"], cleanup: () => instance.stop?.() };
  }));

Deno.test("port 0 disables the endpoint but the sink still counts", async () => {
  const instance = await plugin.create(
    plugin.options.parse({ port: 0 }),
    createCtx(),
  ) as MetricsPluginInstance;
  await instance.start?.();
  try {
    assert.equal(instance.endpoint.server, undefined);
    assert.equal(instance.endpoint.url(), undefined);
    const sink = instance.provides["event-sink"];
    assert.ok(sink instanceof PrometheusSink);
    sink.emit({ type: "socks-accepted", port: 1080 });
    const samples = parseSamples(await sink.registry.metrics());
    assert.equal(valueOf(samples, "p2proxy_socks_connections_total"), 1);
  } finally {
    await instance.stop?.();
  }
});

Deno.test("the plugin listens on start, serves its sink's metrics, and closes on stop", async () => {
  const port = freePort();
  const instance = await plugin.create(
    plugin.options.parse({ port }),
    createCtx("exit"),
  ) as MetricsPluginInstance;
  assert.equal(instance.endpoint.url(), undefined, "not listening before start");
  await instance.start?.();
  const url = instance.endpoint.url();
  try {
    assert.equal(url, `http://127.0.0.1:${port}/metrics`);
    instance.provides["event-sink"].emit({
      type: "exit-denied",
      peerId: aPeerId(3),
      target: "10.0.0.1:22",
      reason: "denied-range",
    });
    const text = await (await fetch(url!)).text();
    assert.ok(declaredNames(text).has("p2proxy_exit_sessions_total"), "role defaults to ctx.role");
    assert.equal(
      valueOf(parseSamples(text), "p2proxy_exit_denied_total", { reason: "denied-range" }),
      1,
    );
  } finally {
    await instance.stop?.();
  }
  await assert.rejects(fetch(url!), "closed after stop");
});

Deno.test("the host composes the plugin and stops its server", async () => {
  const plan = planComposition({
    plugins: [generic],
    needs: ["event-sink"],
    options: { "@p2proxy/metrics-prometheus": { port: freePort(), role: "proxy" } },
  });
  const composition = await Composition.create(plan, { stateDir: ".", role: "exit" });
  await composition.start();
  try {
    composition.get("event-sink").emit({ type: "jit-discovery", port: 1080 });
  } finally {
    assert.deepEqual(await composition.stop(), []);
  }
});

Deno.test("createMetricsEndpoint: explicit role wins, version is passed through", async () => {
  const endpoint = createMetricsEndpoint(plugin.options.parse({ port: 0, role: "hub" }), {
    role: "proxy",
    version: "1.2.3",
  });
  const samples = parseSamples(await endpoint.sink.registry.metrics());
  assert.equal(valueOf(samples, "p2proxy_build_info", { version: "1.2.3", role: "hub" }), 1);
});

Deno.test("metrics-prometheus exposes its HTTP endpoint for routes (the proxy's admin API)", async () => {
  const options = plugin.options.parse({ port: 0 });
  const disabled = await plugin.create(options, {
    stateDir: ".",
    role: "proxy",
    get: () => {
      throw new Error("no capabilities needed");
    },
  });
  // Port 0 disables the endpoint: routes are accepted and ignored, there is no URL.
  disabled.provides["http-routes"].route("GET", /^\/x$/, () => new Response("x"));
  assert.equal(disabled.provides["http-routes"].baseUrl(), undefined);
  await disabled.stop?.();
});
