/**
 * Maps a role's config to what the plugin host needs: the `providers`
 * choices, and plugin options, including options derived from top-level keys
 * (e.g. `keypair_path` → the identity-file plugin's `file`).
 *
 * @module
 */
import { isLoopbackAddress } from "../core/config/common.ts";
import type { CommonConfig } from "../core/config/mod.ts";
import type { PluginSettings } from "./compose.ts";

/** The built-in plugin that a top-level key configures. */
const IDENTITY_FILE = "@p2proxy/identity-file";
const NETWORK_LIBP2P = "@p2proxy/network-libp2p";
const METRICS_PROMETHEUS = "@p2proxy/metrics-prometheus";

/** Plugin settings of a loaded config. Explicit `plugins` options win over derived ones. */
export function pluginSettingsOf(loaded: { readonly config: CommonConfig }): PluginSettings {
  const config = loaded.config;
  const announce = (config as { announceAddrs?: readonly string[] }).announceAddrs ?? [];
  const derivedOptions: Record<string, Record<string, unknown>> = {
    [IDENTITY_FILE]: { file: config.keypairPath },
    [NETWORK_LIBP2P]: { listen: [...config.listenAddrs], announce: [...announce] },
    [METRICS_PROMETHEUS]: {
      port: config.metricsPort,
      bind: config.metricsBind,
      // A non-loopback metrics_bind in the role's own config is a deliberate choice.
      allow_remote: !isLoopbackAddress(config.metricsBind),
    },
  };
  const providers: Record<string, string> = { ...config.providers };
  const extraWants: string[] = [];
  if (config.auth?.provider) {
    providers["authenticator"] ??= config.auth.provider.includes("/")
      ? config.auth.provider
      : `auth-${config.auth.provider}`;
    extraWants.push("authenticator");
  }
  return { providers, plugins: config.plugins, derivedOptions, extraWants };
}
