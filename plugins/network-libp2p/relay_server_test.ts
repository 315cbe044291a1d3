import assert from "node:assert/strict";
import { isRelayListenAddress } from "./relay_listener.ts";
import { isP2proxyError } from "../../core/errors.ts";
import { relayServerService } from "./relay_server.ts";
import { plugin } from "./mod.ts";

const HUB = "12D3KooWLFnKEbsVDsHyaGn8BjDJuyFRaE3MRFuBAWo1QzSvUMuC";

Deno.test("the relay server refuses unlimited or nonsensical default limits", () => {
  const good = {
    maxReservations: 8,
    defaultDataLimitBytes: 131_072,
    defaultDurationLimitMs: 120_000,
  };
  assert.equal(typeof relayServerService(good), "function");
  for (
    const bad of [
      { ...good, defaultDataLimitBytes: 0 },
      { ...good, defaultDurationLimitMs: 0 },
      { ...good, defaultDurationLimitMs: 2 ** 32 },
      { ...good, maxReservations: 0 },
      { ...good, defaultDataLimitBytes: 1.5 },
    ]
  ) {
    assert.throws(() => relayServerService(bad), (error) => isP2proxyError(error, "bad-option"));
  }
});

Deno.test("isRelayListenAddress recognises listening through a named relay", () => {
  assert.equal(isRelayListenAddress(`/ip4/127.0.0.1/tcp/4001/p2p/${HUB}/p2p-circuit`), true);
  assert.equal(isRelayListenAddress(`/dns4/hub.example/tcp/4001/p2p/${HUB}/p2p-circuit/`), true);
  // Relay discovery (no relay named) and plain addresses stay libp2p's business.
  assert.equal(isRelayListenAddress("/p2p-circuit"), false);
  assert.equal(isRelayListenAddress("/ip4/0.0.0.0/tcp/0"), false);
  assert.equal(
    isRelayListenAddress(`/ip4/127.0.0.1/tcp/4001/p2p/${HUB}/p2p-circuit/p2p/${HUB}`),
    false,
  );
});

Deno.test("the network plugin's relay_server option has bounded defaults", () => {
  assert.equal(plugin.options.parse({}).relay_server, undefined);
  assert.deepEqual(plugin.options.parse({ relay_server: {} }).relay_server, {
    max_reservations: 128,
    default_data_limit_bytes: 131_072,
    default_duration_limit_secs: 120,
  });
  assert.equal(
    plugin.options.safeParse({ relay_server: { default_data_limit_bytes: 0 } }).success,
    false,
  );
  assert.equal(plugin.options.safeParse({ relay_server: { unlimited: true } }).success, false);
});
