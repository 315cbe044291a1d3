import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import type { P2ProxyEvent } from "../../core/events.ts";
import { eventSinkCompliance } from "../../core/testing/compliance/event_sink.ts";
import { aCircuitAddress, aDirectAddress, aPeerId } from "../../core/testing/builders.ts";
import { LOGGED_TEXT_MAX_CHARS, THROTTLE_WINDOW_MS } from "./constants.ts";
import { LINE_RULES } from "./event_lines.ts";
import { EVENTS_CATEGORY, LogEventSink } from "./log_event_sink.ts";
import { captureLogs, render } from "./_testing.ts";
import { plugin } from "./mod.ts";

const A = aPeerId(1);
const B = aPeerId(2);
const PORT = 1080;

/** A clock the test moves by hand. */
function manualClock() {
  let now = 0;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

function only(records: readonly LogRecord[]): LogRecord {
  assert.equal(records.length, 1, `one record, got ${records.map(render).join(" | ")}`);
  return records[0]!;
}

Deno.test("LogEventSink passes the event sink compliance suite", async (t) => {
  await t.step("with every level enabled (lines are built and written)", async (t) => {
    const capture = await captureLogs("trace");
    try {
      await eventSinkCompliance(t, () => ({ sink: new LogEventSink() }));
      assert.ok(capture.records.length > 0, "the suite's events were logged");
      const longest = Math.max(...capture.records.map((r) => render(r).length));
      assert.ok(longest < 2 * LOGGED_TEXT_MAX_CHARS, `a 1 MiB message is clipped (${longest})`);
    } finally {
      await capture.stop();
    }
  });
  await t.step(
    "with logging unconfigured",
    (t) => eventSinkCompliance(t, () => ({ sink: new LogEventSink() })),
  );
});

Deno.test("lifecycle events are info lines with their details", async () => {
  const capture = await captureLogs();
  try {
    const sink = new LogEventSink();
    const events: P2ProxyEvent[] = [
      { type: "connection-connected", peerId: A, address: aDirectAddress(A), relayed: false },
      { type: "connection-connected", peerId: B, address: aCircuitAddress(B), relayed: true },
      { type: "connection-disconnected", peerId: B },
    ];
    for (const event of events) sink.emit(event);
    assert.deepEqual(capture.records.map((r) => r.level), events.map(() => "info"));
    assert.deepEqual(capture.records.map((r) => r.category), events.map(() => EVENTS_CATEGORY));
    assert.deepEqual(capture.lines(), [
      `Connected to ${A} at ${aDirectAddress(A)} (direct).`,
      `Connected to ${B} at ${aCircuitAddress(B)} (relayed).`,
      `Disconnected from ${B}.`,
    ]);
    assert.deepEqual(capture.records[0]!.properties, {
      event: "connection-connected",
      peerId: A,
      address: aDirectAddress(A),
      route: "direct",
    });
  } finally {
    await capture.stop();
  }
});

Deno.test("events whose fact another line states are not logged twice", async () => {
  const capture = await captureLogs("trace");
  try {
    const sink = new LogEventSink();
    // The discovery actor logs each exit change; the SOCKS listener logs each failed CONNECT.
    sink.emit({ type: "active-destination", port: PORT, peerId: A, source: { kind: "sticky" } });
    sink.emit({ type: "active-destination", port: PORT });
    sink.emit({ type: "session-failed", port: PORT, stage: "refused", replyCode: 2 });
    sink.emit({ type: "socks-rejected", port: PORT, reason: "no-peer" });
    assert.deepEqual(capture.lines(), []);
    // A client turned away for its own reasons is only said here.
    sink.emit({ type: "socks-rejected", port: PORT, reason: "auth" });
    assert.deepEqual(capture.lines(), ["Port 1080 turned a SOCKS client away (auth)."]);
  } finally {
    await capture.stop();
  }
});

Deno.test("sessions are debug lines with bytes; errors warn; exit refusals are info", async () => {
  const capture = await captureLogs();
  try {
    const sink = new LogEventSink();
    sink.emit({
      type: "session-end",
      sessionId: "1080-1",
      port: PORT,
      peerId: A,
      bytesUp: 120,
      bytesDown: 4_096,
    });
    const ended = only(capture.records.splice(0));
    assert.equal(ended.level, "debug");
    assert.equal(
      render(ended),
      "Session 1080-1 on port 1080 ended: 120 bytes up, 4096 bytes down.",
    );
    assert.equal(ended.properties.bytesDown, 4_096);

    sink.emit({
      type: "session-end",
      sessionId: "1080-2",
      port: PORT,
      peerId: A,
      bytesUp: 1,
      bytesDown: 2,
      error: { stage: "relay", message: "Stream reset by the exit." },
    });
    assert.match(
      render(only(capture.records.splice(0))),
      /ended at relay: Stream reset by the exit\./,
    );

    sink.emit({ type: "error", port: PORT, message: "No exit is available for port 1080." });
    const error = only(capture.records.splice(0));
    assert.equal(error.level, "warning");
    assert.equal(render(error), "Port 1080: No exit is available for port 1080.");

    sink.emit({
      type: "exit-denied",
      peerId: B,
      target: "[fe80::1]:80",
      reason: "denied-range",
      message: "The exit's egress policy refuses [fe80::1]:80: fe80::1 is link-local.",
    });
    const denied = only(capture.records.splice(0));
    assert.equal(denied.level, "info");
    assert.equal(
      render(denied),
      `Refused [fe80::1]:80 for ${B}: The exit's egress policy refuses [fe80::1]:80: ` +
        "fe80::1 is link-local.",
    );
    assert.equal(denied.properties.reason, "denied-range");

    sink.emit({ type: "exit-denied", peerId: A, target: "10.0.0.1:22", reason: "limit" });
    assert.equal(render(only(capture.records.splice(0))), `Refused 10.0.0.1:22 for ${A}: limit`);
  } finally {
    await capture.stop();
  }
});

Deno.test("bandwidth is never logged; per-connection events only at trace", async () => {
  const capture = await captureLogs("debug");
  try {
    const sink = new LogEventSink();
    sink.emit({ type: "bandwidth", peerId: A, up: 1, down: 2 });
    sink.emit({ type: "socks-accepted", port: PORT });
    sink.emit({ type: "stream-opened", peerId: A, durationMs: 3 });
    sink.emit({ type: "ping", peerId: A, rttMs: 3 });
    assert.deepEqual(capture.lines(), []);
  } finally {
    await capture.stop();
  }
  assert.equal(LINE_RULES.bandwidth, undefined);
  for (const type of ["socks-accepted", "stream-opened", "ping"] as const) {
    assert.equal(LINE_RULES[type]?.level, "trace", type);
  }
});

Deno.test("the level option drops lines below it even when the log config allows them", async () => {
  const capture = await captureLogs("trace");
  try {
    const sink = new LogEventSink({ level: "info" });
    sink.emit({ type: "session-new", sessionId: "s", port: PORT, target: "a:1", peerId: A });
    sink.emit({ type: "connection-disconnected", peerId: A });
    assert.deepEqual(capture.lines(), [`Disconnected from ${A}.`]);
  } finally {
    await capture.stop();
  }
});

Deno.test("the same problem within 10 s is counted, and the count is written when it resumes", async () => {
  const capture = await captureLogs();
  const clock = manualClock();
  try {
    const sink = new LogEventSink({ now: clock.now });
    const flap: P2ProxyEvent = { type: "error", port: PORT, message: "Lost exit." };
    sink.emit(flap);
    for (let i = 0; i < 5; i++) {
      clock.advance(1_000);
      sink.emit(flap);
    }
    sink.emit({ type: "error", port: 1081, message: "Lost exit." });
    assert.deepEqual(capture.lines(), ["Port 1080: Lost exit.", "Port 1081: Lost exit."]);

    clock.advance(THROTTLE_WINDOW_MS);
    sink.emit(flap);
    const resumed = capture.records[2]!;
    assert.equal(resumed.properties.repeated, 5);
    assert.equal(
      render(resumed),
      "Port 1080: Lost exit. (5 similar lines suppressed since the previous report)",
    );
    assert.equal(capture.records.length, 3);

    clock.advance(THROTTLE_WINDOW_MS);
    sink.emit(flap);
    assert.equal(render(capture.records[3]!), "Port 1080: Lost exit.", "nothing was swallowed");
  } finally {
    await capture.stop();
  }
});

Deno.test("flush writes the counts still pending; lifecycle lines are never throttled", async () => {
  const capture = await captureLogs();
  const clock = manualClock();
  try {
    const sink = new LogEventSink({ now: clock.now });
    for (let strikes = 1; strikes <= 3; strikes++) {
      sink.emit({ type: "ping-failed", peerId: A, strikes });
    }
    for (let i = 0; i < 3; i++) {
      sink.emit({
        type: "connection-connected",
        peerId: A,
        address: aDirectAddress(A),
        relayed: false,
      });
      sink.emit({ type: "connection-disconnected", peerId: A });
    }
    assert.equal(capture.records.length, 1 + 6);
    sink.flush();
    const flushed = capture.records.at(-1)!;
    assert.equal(flushed.level, "warning");
    assert.equal(flushed.properties.repeated, 2);
    assert.equal(
      render(flushed),
      `${A} missed a ping (strike 3). (the last of 2 similar lines suppressed since the previous report)`,
    );
    sink.flush();
    assert.equal(capture.records.length, 8, "a second flush has nothing to say");
  } finally {
    await capture.stop();
  }
});

Deno.test("exit refusals are throttled per peer and reason, whatever the target", async () => {
  const capture = await captureLogs();
  try {
    const sink = new LogEventSink({ now: () => 0 });
    for (let i = 1; i <= 50; i++) {
      sink.emit({
        type: "exit-denied",
        peerId: B,
        target: `10.0.0.${i}:22`,
        reason: "denied-range",
      });
    }
    sink.emit({ type: "exit-denied", peerId: B, target: "example.com:25", reason: "denied-port" });
    sink.emit({ type: "exit-denied", peerId: A, target: "10.0.0.1:22", reason: "denied-range" });
    assert.equal(capture.records.length, 3);
  } finally {
    await capture.stop();
  }
});

Deno.test("every problem line has a throttle key; lifecycle and session lines have none", () => {
  const throttled = new Set([
    "error",
    "socks-rejected",
    "stream-open-failed",
    "ping-failed",
    "exit-denied",
  ]);
  const sample: { [T in keyof typeof LINE_RULES]?: P2ProxyEvent } = {
    "error": { type: "error", message: "x" },
    "socks-rejected": { type: "socks-rejected", port: PORT, reason: "auth" },
    "stream-open-failed": { type: "stream-open-failed", peerId: A, code: "timeout", durationMs: 1 },
    "ping-failed": { type: "ping-failed", peerId: A, strikes: 1 },
    "exit-denied": { type: "exit-denied", peerId: A, target: "a:1", reason: "auth" },
    "connection-disconnected": { type: "connection-disconnected", peerId: A },
    "session-new": { type: "session-new", sessionId: "s", port: PORT, target: "a:1", peerId: A },
  };
  for (const [type, event] of Object.entries(sample)) {
    const rule = LINE_RULES[type as keyof typeof LINE_RULES] as
      | { line: (e: P2ProxyEvent) => { throttleKey?: string } | undefined }
      | undefined;
    const key = rule?.line(event!)?.throttleKey;
    assert.equal(key !== undefined, throttled.has(type), type);
  }
});

// ---------------------------------------------------------------------------
// The plugin (mod.ts): its level option and its lifecycle.

const pluginContext = {
  stateDir: ".",
  role: "proxy" as const,
  get: () => assert.fail("log-events requires nothing"),
  find: () => assert.fail("log-events wants nothing"),
};

Deno.test("log-events options: level in the config's spellings, nothing else", () => {
  assert.deepEqual(plugin.options.parse({ level: "WARNING" }), { level: "warn" });
  assert.deepEqual(plugin.options.parse({ level: "info" }), { level: "info" });
  for (const raw of [{ level: "loud" }, { level: 3 }]) {
    assert.equal(plugin.options.safeParse(raw).success, false, JSON.stringify(raw));
  }
});

Deno.test("the log-events plugin's sink passes the event sink compliance suite", (t) =>
  eventSinkCompliance(t, async () => {
    const instance = await plugin.create(plugin.options.parse({}), pluginContext);
    return { sink: instance.provides["event-sink"], cleanup: () => instance.stop?.() };
  }));

Deno.test("the log-events plugin at level warn keeps info lines out, and stop flushes pending counts", async () => {
  const capture = await captureLogs();
  try {
    const instance = await plugin.create(plugin.options.parse({ level: "warn" }), pluginContext);
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
