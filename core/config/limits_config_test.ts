import assert from "node:assert/strict";
import { ConfigError } from "./problems.ts";
import { loadExitConfig } from "./exit_config.ts";
import { loadProxyConfig } from "./proxy_config.ts";
import { isUnlimited, limitsOf } from "./limits_config.ts";

const HUB = "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWC3iW81qrVSaGPV7aErQtDGMYg7R9hobpS4euNDi9b56S";

function loadProxy(text: string) {
  return loadProxyConfig(text, { source: "Config.yaml", env: { P2PROXY_BOOTSTRAP: HUB } });
}

function problemsOf(load: () => unknown): string[] {
  try {
    load();
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail("the config loaded, but should be refused");
}

Deno.test("limits: a server's default and an account's own limits, parsed like the rest of the config", () => {
  const config = loadProxy(`
servers:
  - port: 1080
    limits:
      rate: 8Mbps
      connections: 100
      quota: { bytes: 50GB, period: day }
      accounts:
        alice: { rate: 80Mbps }
        bob: {}
`);
  const limits = config.servers[0]!.limits!;
  assert.equal(limits.rateBps, 8_000_000);
  assert.equal(limits.connections, 100);
  assert.deepEqual(limits.quota, { bytes: 50_000_000_000, period: "day" });
  assert.deepEqual(limitsOf(limits, "alice"), { rateBps: 80_000_000 });
  assert.equal(isUnlimited(limitsOf(limits, "bob")), true, "an account listed with {} has none");
  assert.equal(limitsOf(limits, "carol").connections, 100, "an unlisted account gets the default");
  assert.equal(limitsOf(limits, "").rateBps, 8_000_000, "so does a session without an account");
});

Deno.test("limits: a server without the key has none", () => {
  assert.equal(loadProxy("servers: [{ port: 1080 }]").servers[0]!.limits, undefined);
});

Deno.test("limits: bad values are refused, each with its path and what to write", () => {
  const problems = problemsOf(() =>
    loadProxy(`
servers:
  - port: 1080
    limits:
      rate: 10MB/s
      connections: 0
      quota: { bytes: 50, period: fortnight }
      accounts:
        alice: { rat: 1Mbps }
`)
  );
  const text = problems.join("\n");
  assert.match(text, /limits\.rate.*bytes per second/);
  assert.match(text, /limits\.connections/);
  assert.match(text, /limits\.quota\.bytes.*"50MB"/);
  assert.match(text, /limits\.quota\.period.*day, week, month/);
  assert.match(text, /limits\.accounts\.alice.*rat/);
});

Deno.test("share: an exit's caps on rate, quota and sessions; none by default", () => {
  const config = loadExitConfig(
    "share: { rate: 20Mbps, quota: { bytes: 100GB, period: month }, sessions: 200 }",
    { source: "Exit.yaml" },
  );
  assert.deepEqual(config.share, {
    rateBps: 20_000_000,
    quota: { bytes: 100_000_000_000, period: "month" },
    sessions: 200,
  });
  assert.deepEqual(loadExitConfig("", { source: "Exit.yaml" }).share, {});
  const problems = problemsOf(() =>
    loadExitConfig("share: { rate: 0bps, sessions: -1 }", { source: "Exit.yaml" })
  );
  assert.match(problems.join("\n"), /share\.rate.*stops the traffic/);
  assert.match(problems.join("\n"), /share\.sessions/);
});

Deno.test("limits: quota_scope names what quota totals are counted under; a bad one is refused", () => {
  const yaml = (scope: string) => `
bootstrap: ["/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWGRUVh9bW6Zu8tKJgPTv1xLcnmLa2PZYZU2tgjMTf3sV6"]
servers:
  - port: 1080
    limits: { quota: { bytes: 1GB, period: day }, quota_scope: ${scope} }
`;
  const config = loadProxyConfig(yaml("eu-pool"), { source: "Config.yaml" });
  assert.equal(config.servers[0]!.limits?.quotaScope, "eu-pool");
  const problems = problemsOf(() => loadProxyConfig(yaml('"eu/pool"'), { source: "Config.yaml" }));
  assert.match(problems.join("\n"), /quota_scope must be 1 to 64 letters.*"eu-pool"/);
});
