import assert from "node:assert/strict";
import fc from "fast-check";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import type { P2ProxyEvent } from "../../core/events.ts";
import { eventSinkCompliance } from "../../core/testing/compliance/event_sink.ts";
import { aCircuitAddress, aDirectAddress, aPeerId } from "../../core/testing/builders.ts";
import { LABEL_VALUES_MAX, OTHER_LABEL_VALUE } from "./constants.ts";
import { METRIC_SETS_BY_ROLE, P2PROXY_VERSION, PrometheusSink } from "./prometheus_sink.ts";
import { MetricsServer, metricsUrl } from "./metrics_server.ts";
import { declaredNames, parseSamples, type Samples, valueOf } from "./_testing.ts";

const A = aPeerId(1);
const B = aPeerId(2);
const PORT = 1080;

/** Every metric name dashboards built on the anchor rely on. */
const PROXY_METRIC_NAMES = [
  "p2proxy_peers_connected",
  "p2proxy_sessions_active",
  "p2proxy_socks_connections_total",
  "p2proxy_sessions_initialized_total",
  "p2proxy_upload_bytes_total",
  "p2proxy_download_bytes_total",
  "p2proxy_session_errors_total",
  "p2proxy_stream_opened_total",
  "p2proxy_stream_acquire_failed_total",
  "p2proxy_stream_acquire_duration_seconds",
  "p2proxy_ping_rtt_seconds",
  "p2proxy_ping_failures_total",
  "p2proxy_socks_jit_discovery_total",
  "p2proxy_socks_rejected_no_peer_total",
  "p2proxy_session_moves_total",
];
const EXIT_METRIC_NAMES = [
  "p2proxy_exit_sessions_active",
  "p2proxy_exit_sessions_total",
  "p2proxy_exit_denied_total",
  "p2proxy_exit_upload_bytes_total",
  "p2proxy_exit_download_bytes_total",
];
const PROCESS_METRIC_NAMES = [
  "p2proxy_process_resident_memory_bytes",
  "p2proxy_process_heap_used_bytes",
  "p2proxy_build_info",
];

async function samplesOf(sink: PrometheusSink): Promise<Samples> {
  return parseSamples(await sink.registry.metrics());
}

function emitAll(sink: PrometheusSink, events: readonly P2ProxyEvent[]): void {
  for (const event of events) sink.emit(event);
}

/** A proxy and an exit at work: connections, six SOCKS clients with every kind of outcome, pings. */
const OPENING: readonly P2ProxyEvent[] = [
  { type: "local-peer-id", peerId: A },
  {
    type: "connection-connected",
    peerId: A,
    address: aDirectAddress(A),
    relayed: false,
  },
  {
    type: "connection-connected",
    peerId: A,
    address: aDirectAddress(A, 8),
    relayed: false,
  },
  {
    type: "connection-connected",
    peerId: B,
    address: aCircuitAddress(B),
    relayed: true,
  },
  { type: "active-destination", port: PORT, peerId: A, source: { kind: "sticky" } },
  // Two sessions that reach the exit.
  { type: "socks-accepted", port: PORT },
  { type: "stream-opened", peerId: A, durationMs: 12 },
  { type: "session-new", sessionId: "s1", port: PORT, target: "example.com:443", peerId: A },
  { type: "socks-accepted", port: PORT },
  { type: "stream-opened", peerId: A, durationMs: 30 },
  { type: "session-new", sessionId: "s2", port: PORT, target: "example.org:80", peerId: A },
  { type: "exit-session-start", sessionId: "x1", peerId: B, target: "example.com:443" },
  { type: "exit-session-start", sessionId: "x2", peerId: B, target: "example.org:80" },
  { type: "bandwidth", peerId: A, up: 100, down: 1_000 },
];

const CLOSING: readonly P2ProxyEvent[] = [
  { type: "bandwidth", peerId: A, up: 50, down: 500 },
  { type: "session-end", sessionId: "s1", port: PORT, peerId: A, bytesUp: 120, bytesDown: 1_100 },
  {
    type: "session-end",
    sessionId: "s2",
    port: PORT,
    peerId: A,
    bytesUp: 30,
    bytesDown: 400,
    error: { stage: "relay", message: "Stream reset by the exit." },
  },
  { type: "exit-session-end", sessionId: "x1", peerId: B, bytesUp: 10, bytesDown: 20 },
  { type: "exit-session-end", sessionId: "x2", peerId: B, bytesUp: 5, bytesDown: 7 },
  { type: "exit-denied", peerId: B, target: "10.0.0.1:80", reason: "denied-range" },
  { type: "exit-denied", peerId: B, target: "10.0.0.2:80", reason: "denied-range" },
  { type: "exit-denied", peerId: B, target: "example.com:80", reason: "auth" },
  // A stream that cannot be opened.
  { type: "socks-accepted", port: PORT },
  { type: "stream-open-failed", peerId: B, code: "timeout", durationMs: 20_000 },
  { type: "session-failed", port: PORT, stage: "stream", replyCode: 1 },
  // No exit in time.
  { type: "socks-accepted", port: PORT },
  { type: "jit-discovery", port: PORT },
  { type: "session-moved", session: "s1", from: A, to: B },
  { type: "socks-rejected", port: PORT, reason: "no-peer" },
  { type: "session-failed", port: PORT, stage: "no-peer", replyCode: 1 },
  // Bad credentials, and a client speaking something else.
  { type: "socks-accepted", port: PORT },
  { type: "socks-rejected", port: PORT, reason: "auth" },
  { type: "socks-accepted", port: PORT },
  { type: "socks-rejected", port: PORT, reason: "handshake" },
  { type: "ping", peerId: A, rttMs: 5 },
  { type: "ping", peerId: B, rttMs: 20 },
  { type: "ping-failed", peerId: B, strikes: 1 },
  { type: "connection-disconnected", peerId: B },
];

Deno.test("PrometheusSink passes the event sink compliance suite for every role", async (t) => {
  for (const role of Object.keys(METRIC_SETS_BY_ROLE) as (keyof typeof METRIC_SETS_BY_ROLE)[]) {
    await t.step(
      role,
      (t) => eventSinkCompliance(t, () => ({ sink: new PrometheusSink({ role }) })),
    );
  }
});

Deno.test("a realistic run scraped over HTTP gives exact values and every anchor metric", async () => {
  const sink = new PrometheusSink({ role: "demo" });
  const server = new MetricsServer(sink.registry, { port: 0 });
  const address = await server.start();
  const scrape = async () => {
    const response = await fetch(metricsUrl(address));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), sink.registry.contentType);
    return await response.text();
  };
  try {
    emitAll(sink, OPENING);
    const during = parseSamples(await scrape());
    assert.equal(valueOf(during, "p2proxy_sessions_active"), 2);
    assert.equal(valueOf(during, "p2proxy_exit_sessions_active"), 2);
    assert.equal(
      valueOf(during, "p2proxy_peers_connected"),
      2,
      "A counts once for two connections",
    );

    emitAll(sink, CLOSING);
    const text = await scrape();
    const names = declaredNames(text);
    for (const name of [...PROXY_METRIC_NAMES, ...EXIT_METRIC_NAMES, ...PROCESS_METRIC_NAMES]) {
      assert.ok(names.has(name), `${name} is exposed`);
    }
    const after = parseSamples(text);
    const expected: [string, Record<string, string>, number][] = [
      ["p2proxy_peers_connected", {}, 1],
      ["p2proxy_sessions_active", {}, 0],
      ["p2proxy_socks_connections_total", {}, 6],
      ["p2proxy_sessions_initialized_total", {}, 2],
      ["p2proxy_upload_bytes_total", {}, 150],
      ["p2proxy_download_bytes_total", {}, 1_500],
      ["p2proxy_session_errors_total", { stage: "relay" }, 1],
      ["p2proxy_session_errors_total", { stage: "stream" }, 1],
      ["p2proxy_session_errors_total", { stage: "no-peer" }, 1],
      ["p2proxy_session_errors_total", { stage: "auth" }, 1],
      ["p2proxy_session_errors_total", { stage: "handshake" }, 1],
      ["p2proxy_stream_opened_total", {}, 2],
      ["p2proxy_stream_acquire_failed_total", { code: "timeout" }, 1],
      ["p2proxy_stream_acquire_duration_seconds_count", {}, 3],
      ["p2proxy_stream_acquire_duration_seconds_bucket", { le: "0.025" }, 1],
      ["p2proxy_stream_acquire_duration_seconds_bucket", { le: "0.05" }, 2],
      ["p2proxy_stream_acquire_duration_seconds_bucket", { le: "20" }, 3],
      ["p2proxy_ping_rtt_seconds_count", {}, 2],
      ["p2proxy_ping_failures_total", {}, 1],
      ["p2proxy_socks_jit_discovery_total", {}, 1],
      ["p2proxy_session_moves_total", {}, 1],
      ["p2proxy_socks_rejected_no_peer_total", {}, 1],
      ["p2proxy_exit_sessions_active", {}, 0],
      ["p2proxy_exit_sessions_total", {}, 2],
      ["p2proxy_exit_denied_total", { reason: "denied-range" }, 2],
      ["p2proxy_exit_denied_total", { reason: "auth" }, 1],
      ["p2proxy_exit_upload_bytes_total", {}, 15],
      ["p2proxy_exit_download_bytes_total", {}, 27],
      ["p2proxy_build_info", { version: P2PROXY_VERSION, role: "demo" }, 1],
    ];
    for (const [name, labels, value] of expected) {
      assert.equal(valueOf(after, name, labels), value, `${name} ${JSON.stringify(labels)}`);
    }
    const acquireSum = valueOf(after, "p2proxy_stream_acquire_duration_seconds_sum");
    assert.ok(Math.abs(acquireSum - 20.042) < 1e-9, `acquire sum ${acquireSum}`);
    assert.ok(Math.abs(valueOf(after, "p2proxy_ping_rtt_seconds_sum") - 0.025) < 1e-9);
    assert.ok(valueOf(after, "p2proxy_process_resident_memory_bytes") > 0);
    assert.ok(valueOf(after, "p2proxy_process_heap_used_bytes") > 0);
  } finally {
    await server.stop();
  }
});

Deno.test("each role registers its own metric sets", async (t) => {
  const namesOf = async (role: "proxy" | "exit" | "hub" | "tool") =>
    declaredNames(await new PrometheusSink({ role }).registry.metrics());

  await t.step("proxy: proxy and node metrics, no exit metrics", async () => {
    const names = await namesOf("proxy");
    for (const name of [...PROXY_METRIC_NAMES, ...PROCESS_METRIC_NAMES]) assert.ok(names.has(name));
    for (const name of EXIT_METRIC_NAMES) assert.ok(!names.has(name), name);
  });
  await t.step("exit: exit and node metrics, no SOCKS metrics", async () => {
    const names = await namesOf("exit");
    for (const name of [...EXIT_METRIC_NAMES, ...PROCESS_METRIC_NAMES]) assert.ok(names.has(name));
    assert.ok(names.has("p2proxy_peers_connected"));
    assert.ok(!names.has("p2proxy_socks_connections_total"));
  });
  await t.step("tool: process metrics only", async () => {
    assert.deepEqual([...await namesOf("tool")].sort(), [...PROCESS_METRIC_NAMES].sort());
  });
  await t.step("build_info carries the role and an explicit version", async () => {
    const sink = new PrometheusSink({ role: "hub", version: "9.9.9-test" });
    const samples = await samplesOf(sink);
    assert.equal(valueOf(samples, "p2proxy_build_info", { version: "9.9.9-test", role: "hub" }), 1);
  });
});

Deno.test("events a role has no metric for are ignored", async () => {
  const sink = new PrometheusSink({ role: "exit" });
  sink.emit({ type: "socks-accepted", port: PORT });
  sink.emit({ type: "session-new", sessionId: "s", port: PORT, target: "a:1", peerId: A });
  const samples = await samplesOf(sink);
  assert.equal(valueOf(samples, "p2proxy_exit_sessions_total"), 0);
  assert.ok(![...samples.keys()].some((key) => key.startsWith("p2proxy_socks")));
});

Deno.test("active gauges count each session once and never go below zero", async () => {
  const sink = new PrometheusSink({ role: "demo" });
  const start = {
    type: "session-new",
    sessionId: "s",
    port: PORT,
    target: "a:1",
    peerId: A,
  } as const;
  const end = {
    type: "session-end",
    sessionId: "s",
    port: PORT,
    peerId: A,
    bytesUp: 0,
    bytesDown: 0,
  } as const;
  emitAll(sink, [start, start, end, end, { ...end, sessionId: "never-started" }]);
  emitAll(sink, [{
    type: "exit-session-end",
    sessionId: "x",
    peerId: B,
    bytesUp: 1,
    bytesDown: 1,
  }]);
  emitAll(sink, [{ type: "connection-disconnected", peerId: B }]);
  const samples = await samplesOf(sink);
  assert.equal(valueOf(samples, "p2proxy_sessions_active"), 0);
  assert.equal(valueOf(samples, "p2proxy_sessions_initialized_total"), 2, "each start is counted");
  assert.equal(valueOf(samples, "p2proxy_exit_sessions_active"), 0);
  assert.equal(valueOf(samples, "p2proxy_peers_connected"), 0);
});

Deno.test("sessions_active equals the sessions started and not ended (property)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 5 })), { maxLength: 40 }),
      async (steps) => {
        const sink = new PrometheusSink({ role: "proxy" });
        const open = new Set<number>();
        for (const [starts, id] of steps) {
          const sessionId = `s${id}`;
          if (starts) {
            open.add(id);
            sink.emit({ type: "session-new", sessionId, port: PORT, target: "a:1", peerId: A });
          } else {
            open.delete(id);
            sink.emit({
              type: "session-end",
              sessionId,
              port: PORT,
              peerId: A,
              bytesUp: 0,
              bytesDown: 0,
            });
          }
        }
        assert.equal(valueOf(await samplesOf(sink), "p2proxy_sessions_active"), open.size);
      },
    ),
    { numRuns: 50 },
  );
});

Deno.test("bad numbers in events cost a sample, not the sink", async () => {
  const sink = new PrometheusSink({ role: "demo" });
  emitAll(sink, [
    { type: "bandwidth", peerId: A, up: -5, down: Number.NaN },
    { type: "bandwidth", peerId: A, up: Number.POSITIVE_INFINITY, down: 7 },
    { type: "stream-opened", peerId: A, durationMs: -1 },
    { type: "stream-opened", peerId: A, durationMs: Number.NaN },
    { type: "ping", peerId: A, rttMs: Number.NEGATIVE_INFINITY },
    { type: "exit-session-end", sessionId: "x", peerId: B, bytesUp: -1, bytesDown: Number.NaN },
  ]);
  const samples = await samplesOf(sink);
  assert.equal(valueOf(samples, "p2proxy_upload_bytes_total"), 0);
  assert.equal(valueOf(samples, "p2proxy_download_bytes_total"), 7);
  assert.equal(valueOf(samples, "p2proxy_stream_opened_total"), 2);
  assert.equal(valueOf(samples, "p2proxy_stream_acquire_duration_seconds_count"), 0);
  assert.equal(valueOf(samples, "p2proxy_ping_rtt_seconds_count"), 0);
  assert.equal(valueOf(samples, "p2proxy_exit_upload_bytes_total"), 0);
});

Deno.test("free-text labels are bounded: long or too many values become 'other'", async () => {
  const sink = new PrometheusSink({ role: "demo" });
  const failure = (code: string): P2ProxyEvent => ({
    type: "stream-open-failed",
    peerId: A,
    code,
    durationMs: 1,
  });
  sink.emit(failure("x".repeat(1_000)));
  for (let i = 0; i < LABEL_VALUES_MAX + 10; i++) sink.emit(failure(`code-${i}`));
  sink.emit(failure("code-0"));
  const samples = await samplesOf(sink);
  const codes = [...samples.keys()].filter((key) =>
    key.startsWith("p2proxy_stream_acquire_failed_total")
  );
  assert.equal(codes.length, LABEL_VALUES_MAX + 1, "the cap plus 'other'");
  assert.equal(valueOf(samples, "p2proxy_stream_acquire_failed_total", { code: "code-0" }), 2);
  assert.equal(
    valueOf(samples, "p2proxy_stream_acquire_failed_total", { code: OTHER_LABEL_VALUE }),
    11,
  );
});

Deno.test("a metric set that throws is contained, logged once, and the other sets still count", async () => {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (record: LogRecord) => records.push(record) },
    loggers: [
      { category: ["p2proxy"], sinks: ["memory"], lowestLevel: "debug" },
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
    ],
  });
  const sink = new PrometheusSink({
    role: "proxy",
    sets: [
      () => ({
        "socks-accepted": () => {
          throw new Error("broken set");
        },
      }),
      ...METRIC_SETS_BY_ROLE.proxy,
    ],
  });
  assert.doesNotThrow(() => sink.emit({ type: "socks-accepted", port: PORT }));
  assert.doesNotThrow(() => sink.emit({ type: "socks-accepted", port: PORT }));
  await reset();
  assert.equal(valueOf(await samplesOf(sink), "p2proxy_socks_connections_total"), 2);
  assert.equal(records.length, 1, "one warning for a type that keeps failing");
  assert.equal(records[0]!.level, "warning");
  assert.equal(records[0]!.properties.type, "socks-accepted");
  assert.match(String(records[0]!.properties.error), /broken set/);
});

Deno.test("two sinks keep separate registries", async () => {
  const one = new PrometheusSink();
  const two = new PrometheusSink();
  one.emit({ type: "socks-accepted", port: PORT });
  assert.equal(valueOf(await samplesOf(one), "p2proxy_socks_connections_total"), 1);
  assert.equal(valueOf(await samplesOf(two), "p2proxy_socks_connections_total"), 0);
});
