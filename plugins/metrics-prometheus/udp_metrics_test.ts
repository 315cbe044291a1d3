import assert from "node:assert/strict";
import { aPeerId } from "../../core/testing/builders.ts";
import { PrometheusSink } from "./prometheus_sink.ts";
import { parseSamples, valueOf } from "./_testing.ts";

const EXIT = aPeerId(1);
const PROXY = aPeerId(2);

function end(side: "proxy" | "exit", sessionId: string, peerId = EXIT) {
  return {
    type: "udp-association-end" as const,
    side,
    sessionId,
    peerId,
    datagramsUp: 3,
    bytesUp: 300,
    datagramsDown: 2,
    bytesDown: 150,
    dropped: 1,
    reason: "closed",
  };
}

Deno.test("UDP associations are counted per side: started, active, datagrams, bytes, drops", async () => {
  // The demo runs a proxy and an exit in one process: both sides in one registry.
  const sink = new PrometheusSink({ role: "demo" });
  for (const sessionId of ["1080-1", "1080-2"]) {
    sink.emit({ type: "udp-association-start", side: "proxy", sessionId, peerId: EXIT });
  }
  sink.emit({ type: "udp-association-start", side: "exit", sessionId: "1080-1", peerId: PROXY });
  sink.emit(end("proxy", "1080-1"));
  const samples = parseSamples(await sink.registry.metrics());
  const value = (name: string, labels: Record<string, string>) => valueOf(samples, name, labels);
  assert.equal(value("p2proxy_udp_associations_total", { side: "proxy" }), 2);
  assert.equal(value("p2proxy_udp_associations_total", { side: "exit" }), 1);
  assert.equal(value("p2proxy_udp_associations_active", { side: "proxy" }), 1);
  assert.equal(value("p2proxy_udp_associations_active", { side: "exit" }), 1);
  assert.equal(value("p2proxy_udp_datagrams_total", { side: "proxy", direction: "up" }), 3);
  assert.equal(value("p2proxy_udp_datagrams_total", { side: "proxy", direction: "down" }), 2);
  assert.equal(value("p2proxy_udp_bytes_total", { side: "proxy", direction: "up" }), 300);
  assert.equal(value("p2proxy_udp_bytes_total", { side: "proxy", direction: "down" }), 150);
  assert.equal(value("p2proxy_udp_dropped_total", { side: "proxy" }), 1);
});

Deno.test("the proxy and exit roles declare the UDP metrics; the hub does not", async () => {
  for (const role of ["proxy", "exit"] as const) {
    const text = await new PrometheusSink({ role }).registry.metrics();
    assert.match(text, /^# TYPE p2proxy_udp_associations_total counter$/m, role);
  }
  const hub = await new PrometheusSink({ role: "hub" }).registry.metrics();
  assert.doesNotMatch(hub, /p2proxy_udp_/);
});
