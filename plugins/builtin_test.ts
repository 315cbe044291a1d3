/**
 * Every built-in plugin against the manifest compliance suite: valid for
 * this plugin API, found by the loader in its module, options that default
 * and refuse typos, narrow permissions for the defaults, and `create` /
 * `start` / `stop` for real (libp2p on 127.0.0.1, a real auth service for
 * auth-connect, files in a temp state dir). Each plugin's port behaviour is
 * checked by the port's own suite beside its adapter.
 *
 * @module
 */
import { libp2pSettled } from "../tests/_libp2p.ts";
import type { PluginManifestFixture } from "../core/testing/compliance/plugin_manifest.ts";
import { pluginManifestCompliance } from "../core/testing/compliance/plugin_manifest.ts";
import { startTestAuthService, type TestAuthService } from "../auth-service/_test_support.ts";
import { freePort } from "../scripts/cluster.ts";
import { BUILTIN_PLUGINS } from "./builtin.ts";
import { SystemClock } from "./clock-system/system_clock.ts";
import type { NetworkNode } from "../core/ports/network.ts";
import { aPeerId } from "../core/testing/builders.ts";
import { FakeNetwork } from "../proxy/_fake_network.ts";
import { MemoryNetwork } from "../core/testing/compliance/_fake_stream_network.ts";

/** What a built-in needs beyond the defaults, given the test's running services. */
type Extra = (services: { auth?: TestAuthService }) => Partial<PluginManifestFixture>;

const AUTH_CONNECT = "@p2proxy/auth-connect";

const EXTRAS: Readonly<Record<string, Extra>> = {
  "@p2proxy/network-libp2p": () => ({
    broadPermissions: {
      env: "js-libp2p's logger lists the whole environment at import (see LIBP2P_ENV).",
    },
  }),
  // An exit's endpoint on a free UDP port, wrapping an in-memory network (the offer handler).
  "@p2proxy/network-quic": () => ({
    createOptions: { listen: "127.0.0.1:0" },
    requires: (() => {
      const network = new MemoryNetwork().node();
      return { network, "stream-opener": network };
    })(),
  }),
  "@p2proxy/resolver-system": () => ({
    broadPermissions: {
      net: "Deno checks net access to every name getaddrinfo is asked about: any destination.",
    },
  }),
  "@p2proxy/metrics-prometheus": () => ({ createOptions: { port: freePort() } }),
  "@p2proxy/registry-redis": () => ({
    broadPermissions: {
      env: "the debug package ioredis loads lists the whole environment at import.",
    },
    // Nothing listens there: start() logs that Redis is unreachable and goes on (its own tests
    // run against a real redis-server).
    createOptions: { url: `redis://127.0.0.1:${freePort()}/0`, connect_timeout_secs: 1 },
  }),
  "@p2proxy/quota-redis": () => ({
    broadPermissions: {
      env: "the debug package ioredis loads lists the whole environment at import.",
    },
    // Nothing listens there: start() logs that Redis is unreachable and goes on.
    createOptions: { url: `redis://127.0.0.1:${freePort()}/0`, connect_timeout_secs: 1 },
  }),
  // The hub directory asks its hubs only when queried: a scripted network is enough to build it.
  "@p2proxy/directory-hub": () => ({
    createOptions: { hubs: [`/ip4/127.0.0.1/tcp/4001/p2p/${aPeerId(1)}`] },
    requires: { network: new FakeNetwork() as unknown as NetworkNode },
  }),
  [AUTH_CONNECT]: ({ auth }) => ({
    role: "proxy",
    requiredOptions: { url: "http://127.0.0.1:8443" },
    createOptions: { url: auth!.server.url, api_key: auth!.apiKeys.proxy },
    // A real clock: the fake one returns from sleeps at once, and the refresh loop would spin.
    requires: { clock: new SystemClock() },
  }),
};

/** `@p2proxy/<short>` → its folder under plugins/. */
const shortName = (name: string) => name.replace(/^@p2proxy\//, "");

for (const plugin of BUILTIN_PLUGINS) {
  Deno.test(`built-in ${plugin.name} passes the plugin manifest compliance suite`, async (t) => {
    const module = await import(`./${shortName(plugin.name)}/mod.ts`);
    // auth-connect's start() gets a real token from a real service.
    await using auth = plugin.name === AUTH_CONNECT ? await startTestAuthService() : undefined;
    await pluginManifestCompliance(t, async () => {
      const stateDir = await Deno.makeTempDir({ prefix: "p2proxy-manifest-" });
      return {
        plugin,
        module,
        stateDir,
        ...EXTRAS[plugin.name]?.(auth ? { auth } : {}),
        cleanup: () => Deno.remove(stateDir, { recursive: true }),
      };
    });
    if (plugin.name === "@p2proxy/network-libp2p") await libp2pSettled();
  });
}
