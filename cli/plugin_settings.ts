/**
 * Maps a role's config to what the plugin host needs: the `providers`
 * choices, and plugin options, including options derived from top-level keys
 * (e.g. `keypair_path` → the identity-file plugin's `file`).
 *
 * @module
 */
import { isLoopbackAddress } from "../core/config/common.ts";
import type { CommonConfig } from "../core/config/mod.ts";
import { createEgressPolicy } from "../core/domain/egress_policy.ts";
import type { RoleConfig } from "./config_file.ts";
import type { PluginSettings } from "./compose.ts";

/** The built-in plugin that a top-level key configures. */
const IDENTITY_FILE = "@p2proxy/identity-file";
const NETWORK_LIBP2P = "@p2proxy/network-libp2p";
const METRICS_PROMETHEUS = "@p2proxy/metrics-prometheus";
const AUTH_CONNECT = "@p2proxy/auth-connect";
const AUTH_STATIC = "@p2proxy/auth-static";
const GEOIP_MMDB = "@p2proxy/geoip-mmdb";

/** `auth.provider` short names → built-in plugins. */
const AUTH_PLUGINS: Readonly<Record<string, string>> = {
  connect: AUTH_CONNECT,
  static: AUTH_STATIC,
};

/** Plugin settings of a loaded config. Explicit `plugins` options win over derived ones. */
export function pluginSettingsOf(loaded: RoleConfig): PluginSettings {
  const config: CommonConfig = loaded.config;
  const derivedOptions: Record<string, Record<string, unknown>> = {
    [IDENTITY_FILE]: { file: config.keypairPath },
    [NETWORK_LIBP2P]: networkOptions(loaded),
    [METRICS_PROMETHEUS]: {
      port: config.metricsPort,
      bind: config.metricsBind,
      // A non-loopback metrics_bind in the role's own config is a deliberate choice.
      allow_remote: !isLoopbackAddress(config.metricsBind),
    },
  };
  const providers: Record<string, string> = { ...config.providers };
  const extraWants: string[] = [];
  const auth = config.auth;
  // The hub only verifies tokens; proxies and exits also need one of their own.
  if (auth && loaded.role !== "hub") {
    const plugin = AUTH_PLUGINS[auth.provider] ?? auth.provider;
    providers["authenticator"] ??= plugin;
    extraWants.push("authenticator");
    derivedOptions[AUTH_CONNECT] = {
      ...(auth.url ? { url: auth.url } : {}),
      transport: auth.transport,
      role: loaded.role,
      ...(apiKeyFromConfigFile(loaded.config.apiKey) ? { api_key: loaded.config.apiKey } : {}),
      ...(auth.refreshAt === undefined ? {} : { refresh_at: auth.refreshAt }),
      ...(auth.timeoutSecs === undefined ? {} : { timeout_secs: auth.timeoutSecs }),
      ...(auth.caCert ? { ca_cert: auth.caCert } : {}),
    };
    derivedOptions[AUTH_STATIC] = auth.token ? { token: auth.token } : {};
  }
  // Verified exit locations only when configured: a hub without a database keeps declared values.
  if (loaded.role === "hub" && (providers["geoip"] || GEOIP_MMDB in (config.plugins ?? {}))) {
    extraWants.push("geoip");
  }
  return { providers, plugins: config.plugins, derivedOptions, extraWants };
}

/** The variable auth-connect reads the API key from when its options carry none. */
const API_KEY_ENV = "P2PROXY_API_KEY";

/**
 * Whether `api_key` should reach auth-connect as an option. A key set through
 * P2PROXY_API_KEY also lands in the loaded config (env beats file); passing it
 * on would make the plugin's messages blame `api_key` in the config for a bad
 * key that came from the environment. Left out, the plugin reads the same
 * variable itself and names it.
 */
function apiKeyFromConfigFile(apiKey: string | undefined): apiKey is string {
  if (!apiKey) return false;
  try {
    return Deno.env.get(API_KEY_ENV)?.trim() !== apiKey.trim();
  } catch {
    // Not allowed to read the variable: then the key cannot have come from it.
    return true;
  }
}

/** The libp2p node's options: listen and announce addresses, the hub's relay, an exit's relay listens. */
function networkOptions(loaded: RoleConfig): Record<string, unknown> {
  switch (loaded.role) {
    case "proxy":
      return { listen: [...loaded.config.listenAddrs], announce: [] };
    case "hub": {
      const { relay } = loaded.config;
      return {
        listen: [...loaded.config.listenAddrs],
        announce: [...loaded.config.announceAddrs],
        relay_server: {
          max_reservations: relay.maxReservations,
          default_data_limit_bytes: relay.defaultDataLimitBytes,
          default_duration_limit_secs: relay.defaultDurationLimitMs / 1000,
        },
      };
    }
    case "exit": {
      const { listenAddrs, announceAddrs, bootstrap } = loaded.config;
      const circuits = usesRelay(loaded.config.relay, announceAddrs)
        ? bootstrap.map((hub) => `${hub}/p2p-circuit`)
        : [];
      // A circuit may already be in listen_addrs (a relay-only exit): list each address once.
      return { listen: [...new Set([...listenAddrs, ...circuits])], announce: [...announceAddrs] };
    }
  }
}

/**
 * Whether an exit reserves a slot on its hubs' relays: `always`, `never`, or
 * (`auto`) unless it announces a public IP address — an exit that does not
 * say how the internet reaches it is assumed to be behind NAT.
 */
export function usesRelay(mode: "auto" | "always" | "never", announce: readonly string[]): boolean {
  if (mode !== "auto") return mode === "always";
  const publicPolicy = createEgressPolicy();
  return !announce.some((address) => {
    const ip = /^\/ip[46]\/([^/]+)/.exec(address)?.[1];
    return ip !== undefined && publicPolicy.check(ip, 443).allowed;
  });
}
