/**
 * What the composition root plans for a role's config with the built-in plugins: who provides
 * what, and the options each plugin's `configure` maps from the config (no central table).
 */
import assert from "node:assert/strict";
import { loadExitConfig, loadHubConfig, loadProxyConfig } from "../core/config/mod.ts";
import { aPeerId } from "../core/testing/builders.ts";
import { planRole } from "./plan.ts";

const HUB = `/ip4/127.0.0.1/tcp/4001/p2p/${aPeerId(1)}`;

function optionsOf(plan: ReturnType<typeof planRole>, plugin: string) {
  const entry = plan.entries.find((e) => e.plugin.name === plugin);
  assert.ok(entry, `${plugin} is planned`);
  return entry.options;
}

Deno.test("a proxy: its door, its directory (from bootstrap), dialer and streams from the network", () => {
  const config = loadProxyConfig(
    JSON.stringify({
      listen_addrs: ["/ip4/127.0.0.1/tcp/0"],
      bootstrap: [HUB],
      keypair_path: "keys/me.bin",
      metrics_port: 9300,
      servers: [{ port: 1080 }],
    }),
    { source: "p.json" },
  );
  const plan = planRole({ role: "proxy", config });
  assert.equal(plan.providers.get("inbound"), "@p2proxy/socks5");
  assert.equal(plan.providers.get("peer-directory"), "@p2proxy/directory-hub");
  assert.equal(plan.providers.get("dialer"), "@p2proxy/network-libp2p");
  // QUIC wraps the libp2p network: streams over QUIC where the exit offers it.
  assert.equal(plan.providers.get("network"), "@p2proxy/network-quic");
  assert.equal(plan.providers.get("stream-opener"), "@p2proxy/network-quic");
  assert.equal(
    plan.wrapped.get("@p2proxy/network-quic")?.get("network"),
    "@p2proxy/network-libp2p",
  );
  assert.equal(optionsOf(plan, "@p2proxy/network-quic").mode, "auto");
  assert.deepEqual(optionsOf(plan, "@p2proxy/directory-hub").hubs, [HUB]);
  assert.deepEqual(optionsOf(plan, "@p2proxy/network-libp2p").listen, ["/ip4/127.0.0.1/tcp/0"]);
  assert.equal(optionsOf(plan, "@p2proxy/identity-file").file, "keys/me.bin");
  assert.equal(optionsOf(plan, "@p2proxy/metrics-prometheus").port, 9300);
  assert.equal(plan.providers.get("authenticator"), undefined, "no auth, no authenticator");
  const names = plan.entries.map((e) => e.plugin.name);
  assert.ok(
    names.indexOf("@p2proxy/network-libp2p") < names.indexOf("@p2proxy/directory-hub"),
    "the directory is created after the network it asks through",
  );
});

Deno.test("a hub: its relay limits reach the network's relay server, mapped once", () => {
  const config = loadHubConfig(
    JSON.stringify({ relay: { max_reservations: 7, default_data_limit_bytes: 65536 } }),
    { source: "h.json" },
  );
  const relay = optionsOf(planRole({ role: "hub", config }), "@p2proxy/network-libp2p")
    .relay_server;
  assert.equal(relay.max_reservations, 7);
  assert.equal(relay.default_data_limit_bytes, 65536);
  assert.equal(relay.default_duration_limit_secs, config.relay.defaultDurationLimitMs / 1000);
});

Deno.test("an exit behind NAT listens through its hubs' relays; auth chooses the authenticator", () => {
  const config = loadExitConfig(
    JSON.stringify({
      listen_addrs: ["/ip4/127.0.0.1/tcp/0"],
      bootstrap: [HUB],
      auth: { provider: "connect", url: "http://127.0.0.1:8443", network_id: "lab" },
      api_key: "k".repeat(32),
    }),
    { source: "e.json", env: {} },
  );
  const plan = planRole({ role: "exit", config });
  assert.deepEqual(optionsOf(plan, "@p2proxy/network-libp2p").listen, [
    "/ip4/127.0.0.1/tcp/0",
    `${HUB}/p2p-circuit`,
  ]);
  assert.equal(plan.providers.get("authenticator"), "@p2proxy/auth-connect");
  const auth = optionsOf(plan, "@p2proxy/auth-connect");
  assert.deepEqual([auth.url, auth.role], ["http://127.0.0.1:8443", "exit"]);
});

Deno.test("a hub locates exits only when its config asks for a geolocation database", () => {
  const hub = (extra: Record<string, unknown>) =>
    planRole({ role: "hub", config: loadHubConfig(JSON.stringify(extra), { source: "h.json" }) });
  assert.equal(hub({}).providers.get("geoip"), undefined, "a built-in provider alone: off");
  const withOptions = hub({ plugins: { "@p2proxy/geoip-mmdb": { files: ["/db/City.mmdb"] } } });
  assert.equal(withOptions.providers.get("geoip"), "@p2proxy/geoip-mmdb");
  assert.deepEqual(optionsOf(withOptions, "@p2proxy/geoip-mmdb").files, ["/db/City.mmdb"]);
  const chosen = hub({ providers: { geoip: "geoip-mmdb" } });
  assert.equal(chosen.providers.get("geoip"), "@p2proxy/geoip-mmdb", "a providers choice: on");
  assert.equal(
    hub({ plugins: { "@p2proxy/registry-kv": { path: "r.kv" } } }).providers.get("geoip"),
    undefined,
    "options for a plugin that provides something else: off",
  );
});
