import assert from "node:assert/strict";
import {
  definitionProblems,
  PLUGIN_API_VERSION,
  type PluginDefinition,
} from "../../core/plugin/contract.ts";
import { planComposition } from "../../core/plugin/host.ts";
import { eventSinkCompliance } from "../../core/testing/compliance/event_sink.ts";
import { LogEventSink } from "./log_event_sink.ts";
import defaultExport, { plugin } from "./mod.ts";
import { captureLogs } from "./_testing.ts";

// A concrete plugin is not assignable to the widest PluginDefinition (see plugins/builtin.ts).
const generic = plugin as unknown as PluginDefinition;
const ctx = { stateDir: "/var/lib/p2proxy", role: "proxy" as const };
const createCtx = { ...ctx, get: () => assert.fail("log-events requires nothing") };

Deno.test("log-events is a valid plugin providing event-sink", () => {
  assert.equal(defaultExport, plugin);
  assert.deepEqual(definitionProblems(generic), []);
  assert.equal(plugin.name, "@p2proxy/log-events");
  assert.equal(plugin.api, PLUGIN_API_VERSION);
  assert.deepEqual(plugin.provides, ["event-sink"]);
  assert.equal(plugin.requires, undefined);
  const plan = planComposition({ plugins: [generic], needs: ["event-sink"] });
  assert.equal(plan.providers.get("event-sink"), plugin.name);
});

Deno.test("log-events options: level only, in the config's spellings", () => {
  assert.deepEqual(plugin.options.parse({}), { level: "trace" });
  assert.deepEqual(plugin.options.parse({ level: "WARNING" }), { level: "warn" });
  assert.deepEqual(plugin.options.parse({ level: "info" }), { level: "info" });
  for (const raw of [{ level: "loud" }, { level: 3 }, { throttle_secs: 5 }]) {
    assert.equal(plugin.options.safeParse(raw).success, false, JSON.stringify(raw));
  }
});

Deno.test("log-events needs no permissions", () => {
  assert.deepEqual(plugin.permissions?.(plugin.options.parse({}), ctx), {});
});

Deno.test("the plugin's sink passes the event sink compliance suite", (t) =>
  eventSinkCompliance(t, async () => {
    const instance = await plugin.create(plugin.options.parse({}), createCtx);
    return { sink: instance.provides["event-sink"], cleanup: () => instance.stop?.() };
  }));

Deno.test("level warn keeps info lines out, and stop flushes pending counts", async () => {
  const capture = await captureLogs();
  try {
    const instance = await plugin.create(plugin.options.parse({ level: "warn" }), createCtx);
    const sink = instance.provides["event-sink"];
    assert.ok(sink instanceof LogEventSink);
    sink.emit({ type: "socks-rejected", port: 1080, reason: "auth" });
    sink.emit({ type: "error", port: 1080, message: "Hub unreachable." });
    sink.emit({ type: "error", port: 1080, message: "Hub unreachable." });
    sink.emit({ type: "error", port: 1080, message: "Hub unreachable." });
    assert.deepEqual(capture.lines(), ["Port 1080: Hub unreachable."]);
    await instance.stop?.();
    assert.equal(capture.records.length, 2);
    assert.equal(capture.records[1]!.properties.repeated, 2);
    assert.equal(capture.records[1]!.level, "warning");
  } finally {
    await capture.stop();
  }
});
