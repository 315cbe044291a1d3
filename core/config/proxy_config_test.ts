import assert from "node:assert/strict";
import { ConfigError, type ConfigProblem } from "./problems.ts";
import type { LoadOptions } from "./loader.ts";
import { loadProxyConfig } from "./proxy_config.ts";
import { loadExitConfig } from "./exit_config.ts";
import { loadHubConfig } from "./hub_config.ts";

const PEER_A = "12D3KooWS6M2cP13vSHoPXVYbmYvhFgZowNrwyy7VkvbEUgXiXGZ";
const PEER_B = "12D3KooWC3iW81qrVSaGPV7aErQtDGMYg7R9hobpS4euNDi9b56S";
const HUB = `/ip4/203.0.113.7/tcp/4001/p2p/${PEER_B}`;

/**
 * Every server needs a way to an exit (a hub or pinned peers). Unless the text
 * names a hub itself, the tests give the proxy one through the environment, so
 * that file texts (and the lines problems are reported at) stay about what each
 * test is about; a test that sets `P2PROXY_BOOTSTRAP` itself (even to "",
 * which is unset) wins.
 */
function withHub(text: string, options: Partial<LoadOptions>): LoadOptions {
  const namesHub = /\bbootstrap(_address)?\b/.test(text);
  const env = namesHub ? options.env : { P2PROXY_BOOTSTRAP: HUB, ...options.env };
  return { source: "Config.yaml", ...options, ...(env === undefined ? {} : { env }) };
}

function load(text: string, options: Partial<LoadOptions> = {}) {
  return loadProxyConfig(text, withHub(text, options));
}

function problemsOf(text: string, options: Partial<LoadOptions> = {}): ConfigProblem[] {
  try {
    loadProxyConfig(text, withHub(text, options));
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    return [...error.problems];
  }
  return assert.fail("expected a ConfigError");
}

function problemAt(problems: readonly ConfigProblem[], path: string): ConfigProblem {
  const problem = problems.find((candidate) => candidate.path === path);
  assert.ok(problem, `no problem at ${path}; got ${JSON.stringify(problems, null, 1)}`);
  return problem;
}

/** The anchor's Config.yaml at HEAD, verbatim. */
const ANCHOR_CONFIG_YAML = `# p2proxy configuration. Copy / edit / mount this file into the daemon.
# See README.md for the full reference; the values below are a working
# minimal example that exposes a single SOCKS5 endpoint on :1080 routed
# through any peer with >= 50 Mbps available bandwidth.

# UDP port the libp2p stack listens on. Does NOT need to be port-forwarded
# for the proxy to work, but forwarding it improves peer connectivity and
# reduces relay reliance. Defaults to 0 (any port)
# port: 45445

# Logging verbosity: trace | debug | info | warn | error
log_level: info

# Optional top-level overrides (all have sensible defaults):
# keypair_path: node_keypair.bin       # where the node identity is persisted

# One or more proxy endpoints. Each entry opens a local listener and
# routes traffic through peers matching the filter.
servers:
  - protocol: Socks5
    port: 1080
    # Minimum advertised bandwidth a peer must have to be selected.
    # Lower values = more peer options but potentially slower throughput.
    min_bandwidth: 50Mbps

    # Optional: pin to a country (ISO-3166 alpha-2). Omit for any country.
    country: NL
  - protocol: Socks5
    port: 1081
    # Minimum advertised bandwidth a peer must have to be selected.
    # Lower values = more peer options but potentially slower throughput.
    min_bandwidth: 20Mbps

    # Optional: pin to a country (ISO-3166 alpha-2). Omit for any country.
    country: AU

    # destination_peers:
    #   - 12D3KooWPrimaryPeerId...
    #   - 12D3KooWBackupPeerId...

    # fallback_to_discovery: false

    # sticky: true

    # pool:
    #   max_total: 30          # max concurrent stream opens per peer; also
    #                          # bounds the remembered sticky exit pool
    #   open_timeout_secs: 20  # give up opening a stream after this long
`;

Deno.test("proxy config: defaults", () => {
  const config = load("servers:\n  - port: 1080\n", { env: {} });
  assert.deepEqual(config.listenAddrs, ["/ip4/0.0.0.0/tcp/0"]);
  assert.equal(config.logLevel, "info");
  assert.equal(config.metricsPort, 9091);
  assert.equal(config.metricsBind, "127.0.0.1");
  assert.equal(config.stateDir, ".");
  assert.equal(config.keypairPath, "node_keypair.bin");
  assert.deepEqual(config.bootstrap, [HUB], "from the environment (see withHub)");
  assert.deepEqual(config.plugins, {});
  assert.deepEqual(config.providers, {});
  assert.equal(config.allowOpenProxy, false);
  assert.equal(config.apiKey, undefined);
  assert.equal(config.adminToken, undefined);
  assert.equal(config.auth, undefined);
  assert.deepEqual(config.warnings, []);
  const [server] = config.servers;
  assert.ok(server);
  assert.equal(server.protocol, "mixed", "one port serves SOCKS5, SOCKS4 and HTTP by default");
  assert.equal(server.port, 1080);
  assert.equal(server.bind, "127.0.0.1");
  assert.deepEqual(server.users, []);
  assert.equal(server.allowAnonymous, false);
  assert.equal(server.usernameRouting, true);
  assert.deepEqual(server.filters, {
    minBandwidthBps: 50_000_000,
    proxy: "allow",
    mobile: "allow",
    hosting: "allow",
  });
  assert.deepEqual(server.pinned, []);
  assert.equal(server.fallbackToDiscovery, false);
  assert.equal(server.sticky, true);
  assert.equal(server.stickyReconnect, "with-backoff");
  assert.equal(server.poolMaxTotal, 30);
  assert.equal(server.openTimeoutMs, 20_000);
  assert.equal(server.idleTimeoutMs, 0);
  assert.equal(server.handshakeTimeoutMs, 10_000);
  assert.match(server.fingerprint, /1080/);
});

Deno.test("proxy config: the anchor's Config.yaml loads unchanged (given a hub)", () => {
  const config = load(ANCHOR_CONFIG_YAML);
  assert.equal(config.servers.length, 2);
  const [nl, au] = config.servers;
  assert.equal(nl?.protocol, "socks5");
  assert.equal(nl?.port, 1080);
  assert.equal(nl?.filters.country, "NL");
  assert.equal(nl?.filters.minBandwidthBps, 50_000_000);
  assert.equal(au?.port, 1081);
  assert.equal(au?.filters.country, "AU");
  assert.equal(au?.filters.minBandwidthBps, 20_000_000);
  assert.deepEqual(config.warnings, []);
  // The anchor had a default hub (its operator's); p2proxy has none, so the anchor's file alone
  // gives servers that can never route, which is refused rather than left to fail per client.
  const alone = problemsOf(ANCHOR_CONFIG_YAML, { env: { P2PROXY_BOOTSTRAP: "" } });
  assert.deepEqual(alone.map((p) => p.path), ["servers[0]", "servers[1]"]);
});

Deno.test("proxy config: a server needs a hub or pinned peers", async (t) => {
  const noHub = { env: { P2PROXY_BOOTSTRAP: "" } };
  await t.step("neither: refused at the server, saying what to add", () => {
    const problems = problemsOf("log_level: info\nservers:\n  - port: 1080\n", noHub);
    assert.equal(problems.length, 1);
    const problem = problemAt(problems, "servers[0]");
    assert.equal(problem.line, 3);
    assert.match(problem.message, /can never reach an exit/);
    assert.match(problem.message, /`bootstrap: \[/);
    assert.match(problem.message, /`destination_peers`/);
  });
  await t.step("only the servers without pins are named", () => {
    const text = `servers:\n  - { port: 1080, destination_peers: [${PEER_A}] }\n  - port: 1081\n`;
    assert.deepEqual(problemsOf(text, noHub).map((p) => p.path), ["servers[1]"]);
  });
  await t.step("pinned peers alone are a route", () => {
    const config = load(`servers: [{ port: 1080, destination_peers: [${PEER_A}] }]`, noHub);
    assert.deepEqual(config.bootstrap, []);
  });
  await t.step("a hub in the file, in P2PROXY_BOOTSTRAP or as bootstrap_address is a route", () => {
    const server = "servers: [{ port: 1080 }]";
    assert.deepEqual(load(`bootstrap: [${HUB}]\n${server}`, noHub).bootstrap, [HUB]);
    assert.deepEqual(load(`bootstrap_address: ${HUB}\n${server}`, noHub).bootstrap, [HUB]);
    assert.deepEqual(load(server, { env: { P2PROXY_BOOTSTRAP: HUB } }).bootstrap, [HUB]);
  });
  await t.step("an empty bootstrap list is no hub", () => {
    const problems = problemsOf("bootstrap: []\nservers: [{ port: 1080 }]", noHub);
    assert.deepEqual(problems.map((p) => p.path), ["servers[0]"]);
  });
  await t.step("a broken bootstrap or pin is reported once, as itself", () => {
    const badHub = problemsOf("bootstrap: [nope]\nservers: [{ port: 1080 }]", noHub);
    assert.deepEqual(badHub.map((p) => p.path), ["bootstrap[0]"]);
    const badPin = problemsOf("servers: [{ port: 1080, destination_peers: [nope] }]", noHub);
    assert.deepEqual(badPin.map((p) => p.path), ["servers[0].destination_peers[0]"]);
  });
});

Deno.test("proxy config: every key, normalised", () => {
  const config = load(`
api_key: secret-key
listen_addrs: [/ip4/0.0.0.0/tcp/45445, /ip6/::/tcp/45445]
log_level: DEBUG
metrics_port: 0
metrics_bind: "::1"
bootstrap: ${HUB}
state_dir: /var/lib/p2proxy
keypair_path: id.bin
allow_open_proxy: false
plugins:
  "@p2proxy/sticky-kv": { path: /tmp/kv }
  "@p2proxy/sticky-file":
providers: { sticky-store: "@p2proxy/sticky-kv" }
auth: { provider: static, token: abc }
servers:
  - protocol: SOCKS5
    port: 1080
    bind: 10.0.0.5
    users: [{ username: alice, password: "0123" }]
    min_bandwidth: 1Gbps 500Mbps
    country: netherlands
    city: Amsterdam
    isp: "^KPN"
    asn: AS1136
    proxy: DENY
    mobile: require
    hosting: allow
    destination_peers:
      - ${PEER_A}
      - /ip4/198.51.100.1/tcp/4001/p2p/${PEER_B}
    fallback_to_discovery: true
    sticky: false
    sticky_reconnect: fail-fast
    pool: { max_total: 5, open_timeout_secs: 2.5 }
    idle_timeout_secs: 300
    handshake_timeout_secs: 3
`);
  assert.equal(config.apiKey, "secret-key");
  assert.deepEqual(config.listenAddrs, ["/ip4/0.0.0.0/tcp/45445", "/ip6/::/tcp/45445"]);
  assert.equal(config.logLevel, "debug");
  assert.equal(config.metricsPort, 0);
  assert.equal(config.metricsBind, "::1");
  assert.deepEqual(config.bootstrap, [HUB]);
  assert.equal(config.stateDir, "/var/lib/p2proxy");
  assert.equal(config.keypairPath, "id.bin");
  assert.deepEqual(config.plugins, {
    "@p2proxy/sticky-kv": { path: "/tmp/kv" },
    "@p2proxy/sticky-file": {},
  });
  assert.deepEqual(config.providers, { "sticky-store": "@p2proxy/sticky-kv" });
  assert.deepEqual(config.auth, {
    provider: "static",
    token: "abc",
    transport: "connect",
    networkId: "p2proxy",
    publicKeys: [],
  });
  const server = config.servers[0];
  assert.ok(server);
  assert.equal(server.bind, "10.0.0.5");
  assert.deepEqual(server.users, [{ username: "alice", password: "0123" }]);
  assert.deepEqual(server.filters, {
    minBandwidthBps: 1_500_000_000,
    country: "NL",
    city: "Amsterdam",
    isp: "^KPN",
    asn: 1136,
    proxy: "deny",
    mobile: "require",
    hosting: "allow",
  });
  assert.deepEqual(server.pinned, [
    { peerId: PEER_A },
    { peerId: PEER_B, address: `/ip4/198.51.100.1/tcp/4001/p2p/${PEER_B}` },
  ]);
  assert.equal(server.fallbackToDiscovery, true);
  assert.equal(server.sticky, false);
  assert.equal(server.stickyReconnect, "fail-fast");
  assert.equal(server.poolMaxTotal, 5);
  assert.equal(server.openTimeoutMs, 2_500);
  assert.equal(server.idleTimeoutMs, 300_000);
  assert.equal(server.handshakeTimeoutMs, 3_000);
});

Deno.test("proxy config: destination_peers entries", async (t) => {
  const pinned = (entry: string) =>
    load(`servers: [{ port: 1080, destination_peers: ["${entry}"] }]`).servers[0]?.pinned;
  await t.step("a bare /p2p/<id> pins the identity only", () => {
    assert.deepEqual(pinned(`/p2p/${PEER_A}`), [{ peerId: PEER_A }]);
  });
  await t.step("a circuit address targets its last /p2p/ and is kept to dial", () => {
    const circuit = `/ip4/203.0.113.7/tcp/4001/p2p/${PEER_B}/p2p-circuit/p2p/${PEER_A}`;
    assert.deepEqual(pinned(circuit), [{ peerId: PEER_A, address: circuit }]);
  });
  await t.step("a single string is a one-entry list", () => {
    const config = load(`servers: [{ port: 1080, destination_peers: ${PEER_A} }]`);
    assert.deepEqual(config.servers[0]?.pinned, [{ peerId: PEER_A }]);
  });
});

Deno.test("proxy config: the anchor's legacy spellings", async (t) => {
  await t.step("bitping_api_key, bootstrap_address, grpc_url, keypair_path, port", () => {
    const config = load(`
port: 45445
bitping_api_key: abc123
bootstrap_address: ${HUB}
grpc_url: https://grpc.example.com
keypair_path: node_keypair.bin
metrics_port: 9100
servers:
  - protocol: Socks5
    port: 1080
`);
    assert.equal(config.apiKey, "abc123");
    assert.deepEqual(config.bootstrap, [HUB]);
    assert.deepEqual(config.auth, {
      provider: "connect",
      url: "https://grpc.example.com",
      transport: "connect",
      networkId: "p2proxy",
      publicKeys: [],
    });
    assert.deepEqual(config.listenAddrs, ["/ip4/0.0.0.0/tcp/45445"]);
    assert.equal(config.metricsPort, 9100);
  });
  await t.step(
    "listen_addrs in the anchor's host:port form; it beats port as in the anchor",
    () => {
      const config = load(`
port: 45445
listen_addrs: ["0.0.0.0:4002", "[::]:4002"]
servers: [{ port: 1080 }]
`);
      assert.deepEqual(config.listenAddrs, ["/ip4/0.0.0.0/tcp/4002", "/ip6/::/tcp/4002"]);
      assert.equal(config.warnings.length, 1);
      assert.equal(config.warnings[0]?.path, "port");
      assert.equal(config.warnings[0]?.line, 2);
    },
  );
  await t.step("metrics_addr of older anchors", () => {
    const config = load(`metrics_addr: "0.0.0.0:9200"\nservers: [{ port: 1080 }]`);
    assert.equal(config.metricsBind, "0.0.0.0");
    assert.equal(config.metricsPort, 9200);
  });
  await t.step("destination_peer of older anchors", () => {
    const config = load(`servers: [{ port: 1080, destination_peer: ${PEER_A} }]`);
    assert.deepEqual(config.servers[0]?.pinned, [{ peerId: PEER_A }]);
  });
  await t.step("obsolete stream-pool keys are ignored with a warning", () => {
    const config = load(`
servers:
  - protocol: Socks5
    port: 1080
    pool:
      enabled: true
      min_idle: 5
      max_total: 200
      open_timeout_secs: 30
      max_error_rate: 0.15
`);
    assert.equal(config.servers[0]?.poolMaxTotal, 200);
    assert.equal(config.servers[0]?.openTimeoutMs, 30_000);
    assert.deepEqual(config.warnings.map((w) => [w.path, w.line]), [
      ["servers[0].pool.enabled", 6],
      ["servers[0].pool.min_idle", 7],
      ["servers[0].pool.max_error_rate", 10],
    ]);
  });
  await t.step("an old and a new name for one key together are refused", () => {
    const problems = problemsOf("api_key: a\nbitping_api_key: b\nservers: [{ port: 1080 }]");
    assert.match(problemAt(problems, "bitping_api_key").message, /keep only `api_key`/);
  });
  await t.step("a problem in a renamed key is shown under the name the file used", () => {
    const problems = problemsOf("bootstrap_address: /ip4/1.2.3.4/tcp/1\nservers: [{ port: 1080 }]");
    const problem = problemAt(problems, "bootstrap_address");
    assert.equal(problem.line, 1);
    assert.match(problem.message, /\/p2p\//);
  });
});

Deno.test("proxy config: each kind of mistake is reported at its path", async (t) => {
  const cases: Array<[string, string, string, RegExp]> = [
    [
      "unknown key",
      "servers: [{ port: 1080, prot: 1 }]",
      "servers[0].prot",
      /did you mean `port`/i,
    ],
    [
      "unknown top-level key",
      "servers: [{ port: 1080 }]\nmetric_port: 1",
      "metric_port",
      /`metrics_port`/,
    ],
    [
      "misplaced key",
      "servers: [{ port: 1080 }]\ncountry: NL",
      "country",
      /inside each entry of `servers`/,
    ],
    ["missing servers", "log_level: info", "servers", /needs `servers`/],
    ["empty servers", "servers: []", "servers", /needs `servers`/],
    [
      "missing port",
      "servers: [{ country: NL }]",
      "servers[0].port",
      /Missing required key `port`/,
    ],
    [
      "port out of range",
      "servers: [{ port: 70000 }]",
      "servers[0].port",
      /at most 65535, got 70000/,
    ],
    ["port zero", "servers: [{ port: 0 }]", "servers[0].port", /at least 1/],
    [
      "port as a string",
      "servers: [{ port: '1080' }]",
      "servers[0].port",
      /Expected a number, got the string "1080"/,
    ],
    [
      "unknown protocol",
      "servers: [{ port: 1080, protocol: https }]",
      "servers[0].protocol",
      /mixed, socks5, socks4, http, got the string "https"\. Did you mean `http`\?/,
    ],
    [
      "bind to a host name",
      "servers: [{ port: 1080, bind: localhost }]",
      "servers[0].bind",
      /127\.0\.0\.1/,
    ],
    [
      "bare-number bandwidth",
      "servers: [{ port: 1080, min_bandwidth: 50 }]",
      "servers[0].min_bandwidth",
      /no unit/,
    ],
    [
      "numeric-string bandwidth",
      "servers: [{ port: 1080, min_bandwidth: '50' }]",
      "servers[0].min_bandwidth",
      /unit/,
    ],
    [
      "unknown bandwidth unit",
      "servers: [{ port: 1080, min_bandwidth: 50furlongs }]",
      "servers[0].min_bandwidth",
      /unknown unit/i,
    ],
    [
      "unknown country",
      "servers: [{ port: 1080, country: Germny }]",
      "servers[0].country",
      /Unknown country "Germny".*Did you mean "Germany"/,
    ],
    [
      "invalid regex",
      "servers: [{ port: 1080, isp: '(unclosed' }]",
      "servers[0].isp",
      /not a valid regular expression/,
    ],
    ["bad asn", "servers: [{ port: 1080, asn: ASX }]", "servers[0].asn", /AS number/],
    [
      "bad policy",
      "servers: [{ port: 1080, proxy: alow }]",
      "servers[0].proxy",
      /allow, deny, require.*Did you mean `allow`/,
    ],
    [
      "bad sticky_reconnect",
      "servers: [{ port: 1080, sticky_reconnect: backoff }]",
      "servers[0].sticky_reconnect",
      /with-backoff, fail-fast/,
    ],
    [
      "boolean as a word",
      "servers: [{ port: 1080, sticky: yes }]",
      "servers[0].sticky",
      /true or false/,
    ],
    [
      "empty destination_peers",
      "servers: [{ port: 1080, destination_peers: [] }]",
      "servers[0].destination_peers",
      /empty/,
    ],
    [
      "destination_peers with no value",
      "servers:\n  - port: 1080\n    destination_peers:\n",
      "servers[0].destination_peers",
      /empty/,
    ],
    [
      "malformed peer id",
      "servers: [{ port: 1080, destination_peers: [12D3KooWnope] }]",
      "servers[0].destination_peers[0]",
      /Invalid peer id "12D3KooWnope"/,
    ],
    [
      "malformed multiaddr",
      "servers: [{ port: 1080, destination_peers: [/ip4/300.0.0.1/tcp/1/p2p/x] }]",
      "servers[0].destination_peers[0]",
      /Invalid multiaddr/,
    ],
    [
      "multiaddr without /p2p/",
      "servers: [{ port: 1080, destination_peers: [/ip4/1.2.3.4/tcp/1] }]",
      "servers[0].destination_peers[0]",
      /does not end in \/p2p\//,
    ],
    [
      "duplicate pinned peer",
      `servers: [{ port: 1080, destination_peers: [${PEER_A}, /p2p/${PEER_A}] }]`,
      "servers[0].destination_peers[1]",
      /listed twice/,
    ],
    [
      "duplicate ports",
      "servers: [{ port: 1080 }, { port: 1080 }]",
      "servers[1].port",
      /already used by servers\[0\]/,
    ],
    ["empty users", "servers: [{ port: 1080, users: [] }]", "servers[0].users", /empty/],
    [
      "duplicate users",
      "servers: [{ port: 1080, users: [{ username: a, password: b }, { username: a, password: c }] }]",
      "servers[0].users[1]",
      /listed twice/,
    ],
    [
      "long username",
      `servers: [{ port: 1080, users: [{ username: ${"é".repeat(128)}, password: b }] }]`,
      "servers[0].users[0].username",
      /256 bytes/,
    ],
    [
      "zero handshake timeout",
      "servers: [{ port: 1080, handshake_timeout_secs: 0 }]",
      "servers[0].handshake_timeout_secs",
      /greater than 0/,
    ],
    [
      "negative idle timeout",
      "servers: [{ port: 1080, idle_timeout_secs: -1 }]",
      "servers[0].idle_timeout_secs",
      /at least 0/,
    ],
    [
      "timeout in milliseconds by mistake",
      "servers: [{ port: 1080, pool: { open_timeout_secs: 20000000 } }]",
      "servers[0].pool.open_timeout_secs",
      /at most 86400/,
    ],
    [
      "pool of zero",
      "servers: [{ port: 1080, pool: { max_total: 0 } }]",
      "servers[0].pool.max_total",
      /at least 1/,
    ],
    [
      "bootstrap without /p2p/",
      "bootstrap: /dnsaddr/boot.example.com\nservers: [{ port: 1080 }]",
      "bootstrap",
      /\/p2p\//,
    ],
    [
      "bootstrap with no address",
      `bootstrap: [/p2p/${PEER_A}]\nservers: [{ port: 1080 }]`,
      "bootstrap[0]",
      /no address to dial/,
    ],
    [
      "bad listen address",
      "listen_addrs: [tcp://0.0.0.0:1]\nservers: [{ port: 1080 }]",
      "listen_addrs[0]",
      /Invalid multiaddr/,
    ],
    [
      "bad log level",
      "log_level: loud\nservers: [{ port: 1080 }]",
      "log_level",
      /trace, debug, info/,
    ],
    [
      "metrics port clash",
      "metrics_port: 1080\nservers: [{ port: 1080 }]",
      "metrics_port",
      /also the SOCKS port/,
    ],
    [
      "plugin options not a mapping",
      "plugins: { x: 5 }\nservers: [{ port: 1080 }]",
      "plugins.x",
      /mapping/,
    ],
  ];
  for (const [name, text, path, pattern] of cases) {
    await t.step(name, () => {
      const problems = problemsOf(text);
      assert.match(problemAt(problems, path).message, pattern);
    });
  }
});

Deno.test("proxy config: five mistakes give five problems, in file order, with lines", () => {
  const text = `servers:
  - port: 1080
    country: Atlantis
    min_bandwidth: 50
  - port: 1080
    sticky: maybe
log_levl: info
`;
  const problems = problemsOf(text);
  assert.deepEqual(problems.map((p) => [p.line, p.path]), [
    [3, "servers[0].country"],
    [4, "servers[0].min_bandwidth"],
    [5, "servers[1].port"],
    [6, "servers[1].sticky"],
    [7, "log_levl"],
  ]);
  for (const problem of problems) assert.ok(problem.message.length > 10);
});

Deno.test("proxy config: the error message lists every problem", () => {
  try {
    load("servers:\n  - port: 0\n    country: Atlantis\n");
    assert.fail("expected a ConfigError");
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.code, "invalid");
    assert.match(error.message, /^Config\.yaml has 2 problems:/);
    assert.match(error.message, /line 2, servers\[0\]\.port: /);
    assert.match(error.message, /line 3, servers\[0\]\.country: Unknown country "Atlantis"/);
  }
});

Deno.test("proxy config: JSON works like YAML, with lines", () => {
  const json = JSON.stringify(
    { servers: [{ protocol: "Socks5", port: 1080, country: "NL" }] },
    null,
    2,
  );
  const config = load(json, { source: "Config.json" });
  assert.equal(config.servers[0]?.filters.country, "NL");
  const bad = JSON.stringify({ servers: [{ port: 1080, country: "Atlantis" }] }, null, 2);
  const problems = problemsOf(bad, { source: "Config.json" });
  assert.equal(problemAt(problems, "servers[0].country").line, 5);
});

Deno.test("proxy config: an open proxy is refused unless allowed", async (t) => {
  const open = "servers: [{ port: 1080, bind: 0.0.0.0 }]";
  await t.step("refused, saying how to allow it", () => {
    const problem = problemAt(problemsOf(open), "servers[0].bind");
    assert.match(problem.message, /without `users`/);
    assert.match(problem.message, /allow_open_proxy: true/);
  });
  await t.step("a public address is refused too", () => {
    problemAt(problemsOf("servers: [{ port: 1080, bind: 203.0.113.5 }]"), "servers[0].bind");
  });
  await t.step("allowed with allow_open_proxy: true", () => {
    const config = load(`allow_open_proxy: true\n${open}`);
    assert.equal(config.allowOpenProxy, true);
    assert.equal(config.servers[0]?.bind, "0.0.0.0");
  });
  await t.step("allowed with P2PROXY_ALLOW_OPEN_PROXY", () => {
    load(open, { env: { P2PROXY_ALLOW_OPEN_PROXY: "true" } });
  });
  await t.step("allowed with users", () => {
    load("servers: [{ port: 1080, bind: 0.0.0.0, users: [{ username: u, password: p }] }]");
  });
  await t.step("users that also let anonymous clients in do not close it", () => {
    const anonymous = problemAt(
      problemsOf(
        "servers: [{ port: 1080, bind: 0.0.0.0, allow_anonymous: true, " +
          "users: [{ username: u, password: p }] }]",
      ),
      "servers[0].bind",
    );
    assert.match(anonymous.message, /allow_anonymous: true/);
  });
  await t.step("loopback needs nothing", () => {
    load(
      "servers: [{ port: 1080, bind: 127.0.0.2 }, { port: 1081, bind: '::1' }, { port: 1082, bind: '::ffff:127.0.0.1' }]",
    );
  });
});

Deno.test("proxy config: an account with a '-' is refused while usernames route", () => {
  const problem = problemAt(
    problemsOf("servers: [{ port: 1080, users: [{ username: a-b, password: p }] }]"),
    "servers[0].users[0].username",
  );
  assert.match(problem.message, /"a-b" holds a "-".*username_routing: false/);
  load(
    "servers: [{ port: 1080, username_routing: false, users: [{ username: a-b, password: p }] }]",
  );
});

Deno.test("proxy config: protocols, anonymous clients and username routing", () => {
  const config = load(
    "servers: [{ port: 1080, protocol: HTTP, allow_anonymous: true, username_routing: false, " +
      "users: [{ username: demo, password: demo }] }, { port: 1081, protocol: socks4 }]",
  );
  const [http, socks4] = config.servers;
  assert.equal(http?.protocol, "http");
  assert.equal(http?.allowAnonymous, true);
  assert.equal(http?.usernameRouting, false);
  assert.equal(socks4?.protocol, "socks4");
});

Deno.test("proxy config: environment and overrides", async (t) => {
  const file = "metrics_port: 9000\nlog_level: warn\nservers: [{ port: 1080 }]";
  await t.step("env beats the file, overrides beat env", () => {
    const env = { P2PROXY_METRICS_PORT: "9100", P2PROXY_LOG_LEVEL: "error" };
    assert.equal(load(file, { env }).metricsPort, 9100);
    assert.equal(load(file, { env }).logLevel, "error");
    const both = load(file, { env, overrides: { metrics_port: 9200 } });
    assert.equal(both.metricsPort, 9200);
    assert.equal(both.logLevel, "error");
  });
  await t.step("only P2PROXY_ variables count", () => {
    const env = {
      PORT: "5555",
      API_KEY: "leaked",
      METRICS_PORT: "1",
      LOG_LEVEL: "trace",
      STATE_DIR: "/x",
    };
    const config = load(file, { env });
    assert.equal(config.apiKey, undefined);
    assert.equal(config.metricsPort, 9000);
    assert.equal(config.logLevel, "warn");
    assert.equal(config.stateDir, ".");
    assert.deepEqual(config.listenAddrs, ["/ip4/0.0.0.0/tcp/0"]);
    assert.equal(config.servers[0]?.port, 1080);
  });
  await t.step("P2PROXY_ variables set every top-level scalar and list", () => {
    const config = load(file, {
      env: {
        P2PROXY_API_KEY: "k",
        P2PROXY_STATE_DIR: "/state",
        P2PROXY_METRICS_BIND: "0.0.0.0",
        P2PROXY_PORT: "4444",
        P2PROXY_BOOTSTRAP: ` ${HUB} , ${HUB.replace("203.0.113.7", "203.0.113.8")} `,
      },
    });
    assert.equal(config.apiKey, "k");
    assert.equal(config.stateDir, "/state");
    assert.equal(config.metricsBind, "0.0.0.0");
    assert.deepEqual(config.listenAddrs, ["/ip4/0.0.0.0/tcp/4444"]);
    assert.equal(config.bootstrap.length, 2);
  });
  await t.step("P2PROXY_PORT beats listen_addrs from the file", () => {
    const config = load(`listen_addrs: [/ip4/127.0.0.1/tcp/1]\n${file}`, {
      env: { P2PROXY_PORT: "4444" },
    });
    assert.deepEqual(config.listenAddrs, ["/ip4/127.0.0.1/tcp/4444"]);
  });
  await t.step("P2PROXY_PORT with no TCP listen address to move is refused", () => {
    const text = `listen_addrs: [/ip4/0.0.0.0/udp/1/quic-v1]\n${file}`;
    const problems = problemsOf(text, { env: { P2PROXY_PORT: "4444" } });
    assert.match(
      problemAt(problems, "P2PROXY_PORT").message,
      /no address in `listen_addrs` has \/tcp\//,
    );
  });
  await t.step("P2PROXY_BITPING_API_KEY is the alias; P2PROXY_API_KEY wins", () => {
    assert.equal(load(file, { env: { P2PROXY_BITPING_API_KEY: "old" } }).apiKey, "old");
    const both = { P2PROXY_BITPING_API_KEY: "old", P2PROXY_API_KEY: "new" };
    assert.equal(load(file, { env: both }).apiKey, "new");
  });
  await t.step("an empty variable is unset", () => {
    assert.equal(load(file, { env: { P2PROXY_METRICS_PORT: "" } }).metricsPort, 9000);
  });
  await t.step("a bad value is reported under the variable's name", () => {
    const problems = problemsOf(file, {
      env: {
        P2PROXY_METRICS_PORT: "lots",
        P2PROXY_PORT: "70000",
        P2PROXY_ALLOW_OPEN_PROXY: "perhaps",
        P2PROXY_BOOTSTRAP: "/ip4/1.2.3.4/tcp/1",
      },
    });
    assert.match(problemAt(problems, "P2PROXY_METRICS_PORT").message, /whole number, got "lots"/);
    assert.match(problemAt(problems, "P2PROXY_PORT").message, /at most 65535/);
    assert.match(problemAt(problems, "P2PROXY_ALLOW_OPEN_PROXY").message, /true or false/);
    assert.match(problemAt(problems, "P2PROXY_BOOTSTRAP[0]").message, /\/p2p\//);
    for (const problem of problems) assert.equal(problem.line, undefined);
  });
  await t.step("overrides: strings from flags are coerced; problems name the flag", () => {
    assert.equal(
      load(file, { overrides: { metrics_port: "9300", log_level: undefined } }).metricsPort,
      9300,
    );
    const problems = problemsOf(file, { overrides: { metrics_port: "x", state_dirr: "/x" } });
    assert.match(problemAt(problems, "--metrics-port").message, /whole number/);
    assert.match(problemAt(problems, "--state-dirr").message, /Unknown setting/);
  });
});

Deno.test("proxy config: secrets are not echoed in messages", () => {
  const problems = problemsOf(
    "api_key: 987654\nservers: [{ port: 1080, users: [{ username: u, password: 13572468 }] }]",
  );
  for (const problem of problems) {
    assert.doesNotMatch(problem.message, /987654|13572468/);
  }
  assert.equal(problems.length, 2);
});

Deno.test("proxy config: admin_token from the file or P2PROXY_ADMIN_TOKEN, never echoed", async (t) => {
  const file = "servers: [{ port: 1080 }]\n";
  const token = "Zm9vYmFyLWJhei1xdXV4LTE2=";
  await t.step("from the file, trimmed; empty means unset", () => {
    assert.equal(load(`admin_token: " ${token} "\n${file}`).adminToken, token);
    assert.equal(load(`admin_token: ""\n${file}`).adminToken, undefined);
  });
  await t.step("the environment beats the file; an empty variable is unset", () => {
    const env = { P2PROXY_ADMIN_TOKEN: "from-the-environment-0123" };
    assert.equal(
      load(`admin_token: ${token}\n${file}`, { env }).adminToken,
      env.P2PROXY_ADMIN_TOKEN,
    );
    assert.equal(
      load(`admin_token: ${token}\n${file}`, { env: { P2PROXY_ADMIN_TOKEN: "" } }).adminToken,
      token,
    );
  });
  await t.step("too short, too long, a space or a quote: refused without the value", () => {
    for (
      const bad of [
        "short-secret",
        "x".repeat(257),
        "has a space in-it-0123",
        'quote"0123456789abcdef',
      ]
    ) {
      const problems = problemsOf(`admin_token: '${bad.replaceAll("'", "''")}'\n${file}`);
      const message = problemAt(problems, "admin_token").message;
      assert.match(message, /16 to 256 characters.*openssl rand -hex 32/);
      assert.ok(!message.includes(bad), message);
    }
    const numeric = problemAt(
      problemsOf(`admin_token: 1234567890123456789\n${file}`),
      "admin_token",
    );
    assert.doesNotMatch(numeric.message, /1234567890/);
  });
});

Deno.test("proxy config: the fingerprint follows every filter", () => {
  const fingerprint = (extra: string) =>
    load(`servers: [{ port: 1080${extra} }]`).servers[0]?.fingerprint;
  const base = fingerprint("");
  assert.equal(base, fingerprint(""));
  for (
    const extra of [
      ", country: NL",
      ", city: Paris",
      ", isp: x",
      ", asn: 1",
      ", min_bandwidth: 1Mbps",
      ", proxy: deny",
      ", mobile: require",
      ", hosting: deny",
    ]
  ) {
    assert.notEqual(fingerprint(extra), base, extra);
  }
  assert.equal(fingerprint(", country: Netherlands"), fingerprint(", country: NLD"));
  assert.equal(fingerprint(", bind: 127.0.0.2"), base, "bind is not a filter");
});

Deno.test("proxy config: `listen_addrs: []` makes a dial-only proxy; exits and hubs must listen", () => {
  assert.deepEqual(load("listen_addrs: []\nservers: [{ port: 1080 }]\n").listenAddrs, []);
  for (const loadOther of [loadExitConfig, loadHubConfig]) {
    assert.throws(
      () => loadOther("listen_addrs: []\n", { source: "Other.yaml" }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.problems.some((p) => p.path === "listen_addrs" && /empty/.test(p.message)),
    );
  }
});
