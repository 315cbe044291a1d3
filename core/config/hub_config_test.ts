import assert from "node:assert/strict";
import { ConfigError, type ConfigProblem } from "./problems.ts";
import type { LoadOptions } from "./loader.ts";
import { loadHubConfig } from "./hub_config.ts";

function load(text: string, options: Partial<LoadOptions> = {}) {
  return loadHubConfig(text, { source: "Hub.yaml", ...options });
}

function problemsOf(text: string, options: Partial<LoadOptions> = {}): ConfigProblem[] {
  try {
    load(text, options);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    return [...error.problems];
  }
  return assert.fail("expected a ConfigError");
}

function messageAt(problems: readonly ConfigProblem[], path: string): string {
  const problem = problems.find((candidate) => candidate.path === path);
  assert.ok(problem, `no problem at ${path}; got ${JSON.stringify(problems, null, 1)}`);
  return problem.message;
}

Deno.test("hub config: defaults", () => {
  const config = load("");
  assert.deepEqual(config.listenAddrs, ["/ip4/0.0.0.0/tcp/4001"]);
  assert.deepEqual(config.announceAddrs, []);
  assert.equal(config.heartbeatIntervalMs, 30_000);
  assert.equal(config.missedHeartbeats, 3);
  assert.deepEqual(config.relay, {
    maxReservations: 128,
    exitDataLimitBytes: 0,
    exitDurationLimitMs: 0,
    defaultDataLimitBytes: 131_072,
    defaultDurationLimitMs: 120_000,
  });
  assert.equal(config.findNodesMax, 100);
  assert.equal(config.metricsPort, 9093);
  assert.equal(config.metricsBind, "127.0.0.1");
});

Deno.test("hub config: every key", () => {
  const config = load(`
port: 5000
announce_addrs: [/dns4/hub.example.com/tcp/5000]
heartbeat_secs: 10
missed_heartbeats: 5
relay:
  max_reservations: 1000
  exit_data_limit_bytes: 1073741824
  exit_duration_limit_secs: 3600
  default_data_limit_bytes: 65536
  default_duration_limit_secs: 60
find_nodes_max: 50
log_level: trace
state_dir: /var/lib/hub
`);
  assert.deepEqual(config.listenAddrs, ["/ip4/0.0.0.0/tcp/5000"]);
  assert.deepEqual(config.announceAddrs, ["/dns4/hub.example.com/tcp/5000"]);
  assert.equal(config.heartbeatIntervalMs, 10_000);
  assert.equal(config.missedHeartbeats, 5);
  assert.deepEqual(config.relay, {
    maxReservations: 1000,
    exitDataLimitBytes: 1_073_741_824,
    exitDurationLimitMs: 3_600_000,
    defaultDataLimitBytes: 65_536,
    defaultDurationLimitMs: 60_000,
  });
  assert.equal(config.findNodesMax, 50);
  assert.equal(config.logLevel, "trace");
  assert.equal(config.stateDir, "/var/lib/hub");
});

Deno.test("hub config: an open relay and other mistakes are refused", () => {
  const problems = problemsOf(`
relay:
  default_data_limit_bytes: 0
  default_duration_limit_secs: 0
  max_reservation: 5
find_nodes_max: 101
missed_heartbeats: 0
bootstrap: /ip4/1.2.3.4/tcp/1
`);
  assert.match(messageAt(problems, "relay.default_data_limit_bytes"), /at least 1/);
  assert.match(messageAt(problems, "relay.default_duration_limit_secs"), /greater than 0/);
  assert.match(messageAt(problems, "relay.max_reservation"), /Did you mean `max_reservations`/);
  assert.match(messageAt(problems, "find_nodes_max"), /at most 100/);
  assert.match(messageAt(problems, "missed_heartbeats"), /at least 1/);
  assert.match(messageAt(problems, "bootstrap"), /Unknown key/);
  assert.equal(problems.length, 6);
});

Deno.test("hub config: environment", () => {
  const config = load("find_nodes_max: 10\n", {
    env: {
      P2PROXY_FIND_NODES_MAX: "20",
      P2PROXY_MISSED_HEARTBEATS: "4",
      P2PROXY_PORT: "4100",
      PORT: "1",
    },
  });
  assert.equal(config.findNodesMax, 20);
  assert.equal(config.missedHeartbeats, 4);
  assert.deepEqual(config.listenAddrs, ["/ip4/0.0.0.0/tcp/4100"]);
  const problems = problemsOf("", { env: { P2PROXY_LISTEN_ADDRS: "0.0.0.0:4001,garbage" } });
  assert.match(messageAt(problems, "P2PROXY_LISTEN_ADDRS[1]"), /Invalid multiaddr "garbage"/);
});
