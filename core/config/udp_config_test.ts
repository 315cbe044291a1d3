import assert from "node:assert/strict";
import { ConfigError } from "./problems.ts";
import { loadExitConfig } from "./exit_config.ts";
import { loadProxyConfig } from "./proxy_config.ts";
import { DEFAULT_UDP_LIMITS, MIN_UDP_BUFFERED_BYTES } from "./udp_config.ts";
import {
  UDP_IDLE_TIMEOUT_MS,
  UDP_MAX_BUFFERED_BYTES,
  UDP_MAX_DATAGRAMS_PER_SECOND,
} from "../domain/udp_limits.ts";

const HUB = "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWC3iW81qrVSaGPV7aErQtDGMYg7R9hobpS4euNDi9b56S";

function proxyUdp(udp: string) {
  const text = `bootstrap: ["${HUB}"]\nservers:\n  - port: 1080\n${udp}`;
  return loadProxyConfig(text, { source: "Config.yaml" }).servers[0]!.udp;
}

function exitUdp(udp: string) {
  return loadExitConfig(`limits:\n${udp}`, { source: "Exit.yaml" }).limits.udp;
}

function messagesOf(load: () => unknown): string {
  try {
    load();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    return error.problems.map((p) => `${p.path}: ${p.message}`).join("\n");
  }
  return assert.fail("expected a ConfigError");
}

Deno.test("udp keys default to the documented bounds on proxy servers and exits", () => {
  assert.deepEqual(DEFAULT_UDP_LIMITS, {
    idleTimeoutMs: UDP_IDLE_TIMEOUT_MS,
    maxDatagramsPerSecond: UDP_MAX_DATAGRAMS_PER_SECOND,
    maxBufferedBytes: UDP_MAX_BUFFERED_BYTES,
  });
  assert.deepEqual(proxyUdp(""), DEFAULT_UDP_LIMITS);
  assert.deepEqual(exitUdp("  max_sessions: 10\n"), DEFAULT_UDP_LIMITS);
});

Deno.test("udp keys set a server's and an exit's bounds, each key alone", () => {
  assert.deepEqual(
    proxyUdp(
      "    udp:\n      idle_timeout_secs: 30\n      max_datagrams_per_sec: 50\n" +
        "      max_buffered_bytes: 131072\n",
    ),
    { idleTimeoutMs: 30_000, maxDatagramsPerSecond: 50, maxBufferedBytes: 131_072 },
  );
  assert.deepEqual(proxyUdp("    udp: { idle_timeout_secs: 0.5 }\n"), {
    ...DEFAULT_UDP_LIMITS,
    idleTimeoutMs: 500,
  });
  assert.deepEqual(exitUdp("  udp: { max_datagrams_per_sec: 7 }\n"), {
    ...DEFAULT_UDP_LIMITS,
    maxDatagramsPerSecond: 7,
  });
});

Deno.test("bad udp values are refused, naming the key and the bound", () => {
  const cases: [string, RegExp][] = [
    ["udp: { idle_timeout_secs: 0 }", /servers\[0\]\.udp\.idle_timeout_secs/],
    ["udp: { max_datagrams_per_sec: 0 }", /servers\[0\]\.udp\.max_datagrams_per_sec/],
    ["udp: { max_datagrams_per_sec: 1.5 }", /servers\[0\]\.udp\.max_datagrams_per_sec/],
    [
      `udp: { max_buffered_bytes: ${MIN_UDP_BUFFERED_BYTES - 1} }`,
      /servers\[0\]\.udp\.max_buffered_bytes.*65536/s,
    ],
    ["udp: { idle_secs: 5 }", /idle_secs/],
  ];
  for (const [udp, expected] of cases) {
    assert.match(messagesOf(() => proxyUdp(`    ${udp}\n`)), expected, udp);
  }
  assert.match(
    messagesOf(() => exitUdp("  udp: { max_buffered_bytes: -1 }\n")),
    /limits\.udp\.max_buffered_bytes/,
  );
});
