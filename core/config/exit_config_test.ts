import assert from "node:assert/strict";
import { ConfigError, type ConfigProblem } from "./problems.ts";
import type { LoadOptions } from "./loader.ts";
import { loadExitConfig } from "./exit_config.ts";
import { DEFAULT_UDP_LIMITS } from "./udp_config.ts";

const HUB = "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWC3iW81qrVSaGPV7aErQtDGMYg7R9hobpS4euNDi9b56S";

function load(text: string, options: Partial<LoadOptions> = {}) {
  return loadExitConfig(text, { source: "Exit.yaml", ...options });
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

Deno.test("exit config: defaults", () => {
  const config = load("");
  assert.deepEqual(config.listenAddrs, ["/ip4/0.0.0.0/tcp/0"]);
  assert.equal(config.metricsPort, 9092);
  assert.equal(config.metricsBind, "127.0.0.1");
  assert.equal(config.logLevel, "info");
  assert.deepEqual(config.bootstrap, []);
  assert.deepEqual(config.announceAddrs, []);
  assert.deepEqual(config.attributes, {
    bandwidthBps: 1_000_000_000,
    proxy: false,
    mobile: false,
    hosting: false,
  });
  assert.deepEqual(config.egress, {
    allowCidrs: [],
    denyCidrs: [],
    allowPorts: [],
    denyPorts: [25],
  });
  assert.equal(config.bindAddress, undefined);
  assert.deepEqual(config.limits, {
    maxSessions: 4096,
    maxSessionsPerPeer: 1024,
    connectTimeoutMs: 10_000,
    idleTimeoutMs: 0,
    udp: DEFAULT_UDP_LIMITS,
  });
  assert.equal(config.heartbeatIntervalMs, 30_000);
  assert.equal(config.relay, "auto");
  assert.deepEqual(config.warnings, []);
});

Deno.test("exit config: every key, normalised", () => {
  const config = load(`
api_key: k
port: 4002
bootstrap: [${HUB}]
announce_addrs: [/dns4/exit.example.com/tcp/4002]
attributes:
  country: Germany
  city: Berlin
  region: Berlin
  isp: Deutsche Telekom
  asn: AS3320
  bandwidth: 500Mbps
  proxy: false
  mobile: true
  hosting: false
egress:
  allow_cidrs: [127.0.0.1/32, "::1"]
  deny_cidrs: [203.0.113.0/24]
  allow_ports: [80, 443]
  deny_ports: []
bind_address: 127.0.0.2
limits: { max_sessions: 10, max_sessions_per_peer: 2, connect_timeout_secs: 1.5, idle_timeout_secs: 60 }
heartbeat_secs: 5
relay: Always
metrics_port: 0
plugins: { "@p2proxy/geoip": { db: /x.mmdb } }
auth: { provider: connect, url: https://auth.example.com }
`);
  assert.equal(config.apiKey, "k");
  assert.deepEqual(config.listenAddrs, ["/ip4/0.0.0.0/tcp/4002"]);
  assert.deepEqual(config.bootstrap, [HUB]);
  assert.deepEqual(config.announceAddrs, ["/dns4/exit.example.com/tcp/4002"]);
  assert.deepEqual(config.attributes, {
    country: "DE",
    city: "Berlin",
    region: "Berlin",
    isp: "Deutsche Telekom",
    asn: 3320,
    bandwidthBps: 500_000_000,
    proxy: false,
    mobile: true,
    hosting: false,
  });
  assert.deepEqual(config.egress, {
    allowCidrs: ["127.0.0.1/32", "::1"],
    denyCidrs: ["203.0.113.0/24"],
    allowPorts: [80, 443],
    denyPorts: [],
  });
  assert.equal(config.bindAddress, "127.0.0.2");
  assert.deepEqual(config.limits, {
    maxSessions: 10,
    maxSessionsPerPeer: 2,
    connectTimeoutMs: 1_500,
    idleTimeoutMs: 60_000,
    udp: DEFAULT_UDP_LIMITS,
  });
  assert.equal(config.heartbeatIntervalMs, 5_000);
  assert.equal(config.relay, "always");
  assert.equal(config.metricsPort, 0);
  assert.deepEqual(config.plugins, { "@p2proxy/geoip": { db: "/x.mmdb" } });
  assert.deepEqual(config.auth, {
    provider: "connect",
    url: "https://auth.example.com",
    transport: "connect",
    networkId: "p2proxy",
    publicKeys: [],
  });
});

Deno.test("exit config: mistakes, all at once", () => {
  const problems = problemsOf(`
attributes:
  country: Narnia
  bandwidth: 100
  city: "Paris; France"
  proxy: "no"
  speed: 1Gbps
egress:
  allow_cidrs: [10.0.0.1/8, not-a-network, 10.0.0.0/33]
  deny_ports: [0, 70000]
  allowed_ports: [80]
bind_address: exit.example.com
limits: { max_sessions: 0, connect_timeout_secs: 0 }
heartbeat_secs: -5
relay: sometimes
country: NL
`);
  assert.match(messageAt(problems, "attributes.country"), /Unknown country "Narnia"/);
  assert.match(messageAt(problems, "attributes.bandwidth"), /no unit/);
  assert.match(messageAt(problems, "attributes.city"), /";"/);
  assert.match(messageAt(problems, "attributes.proxy"), /true or false/);
  assert.match(messageAt(problems, "attributes.speed"), /Unknown key/);
  assert.match(messageAt(problems, "egress.allow_cidrs[0]"), /host bits/);
  assert.match(messageAt(problems, "egress.allow_cidrs[1]"), /10\.0\.0\.0\/8/);
  assert.match(messageAt(problems, "egress.allow_cidrs[2]"), /prefix length/);
  assert.match(messageAt(problems, "egress.deny_ports[0]"), /at least 1/);
  assert.match(messageAt(problems, "egress.deny_ports[1]"), /at most 65535/);
  assert.match(messageAt(problems, "egress.allowed_ports"), /Did you mean `allow_ports`/);
  assert.match(messageAt(problems, "bind_address"), /IP address/);
  assert.match(messageAt(problems, "limits.max_sessions"), /at least 1/);
  assert.match(messageAt(problems, "limits.connect_timeout_secs"), /greater than 0/);
  assert.match(messageAt(problems, "heartbeat_secs"), /greater than 0/);
  assert.match(messageAt(problems, "relay"), /auto, always, never/);
  assert.match(messageAt(problems, "country"), /inside `attributes`/);
  assert.equal(problems.length, 17);
  assert.ok(problems.every((problem) => problem.line !== undefined));
});

Deno.test("exit config: environment", () => {
  const config = load("relay: never\nheartbeat_secs: 10\n", {
    env: {
      P2PROXY_RELAY: "always",
      P2PROXY_HEARTBEAT_SECS: "2.5",
      P2PROXY_BIND_ADDRESS: "127.0.0.3",
      P2PROXY_ANNOUNCE_ADDRS: "/ip4/198.51.100.1/tcp/1,/ip4/198.51.100.2/tcp/1",
      P2PROXY_METRICS_PORT: "9999",
      HEARTBEAT_SECS: "1",
      RELAY: "auto",
    },
  });
  assert.equal(config.relay, "always");
  assert.equal(config.heartbeatIntervalMs, 2_500);
  assert.equal(config.bindAddress, "127.0.0.3");
  assert.equal(config.announceAddrs.length, 2);
  assert.equal(config.metricsPort, 9999);
  const problems = problemsOf("", { env: { P2PROXY_HEARTBEAT_SECS: "soon" } });
  assert.match(messageAt(problems, "P2PROXY_HEARTBEAT_SECS"), /Expected a number, got "soon"/);
});
