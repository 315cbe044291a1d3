/**
 * The Deno permissions a role needs for a given config, beyond those of its
 * plugins: its listeners, who it dials, the files it reads, the env it reads.
 * `p2proxy permissions` merges this with the plugins' own declarations.
 *
 * @module
 */
import { hostPort, multiaddrHostPorts } from "../core/host_port.ts";
import type { ExitConfig, HubConfig, ProxyConfig } from "../core/config/mod.ts";
import type { PermissionSet } from "../core/plugin/permissions.ts";
import type { RoleConfig } from "./config_file.ts";

/** Grants a permission kind without a list (`--allow-net`). */
const ANY = "*";

/**
 * The `yaml` package reads these debug switches whenever it parses (its
 * parser and composer check them), so every role that reads a YAML config
 * needs them.
 */
export const YAML_ENV: readonly string[] = ["LOG_STREAM", "LOG_TOKENS"];

/** Every variable p2proxy reads is under this prefix (docs/config-reference.md). */
const ENV_WILDCARD = "P2PROXY_*";

/** Host and port of a listening socket as Deno's net permission spells it. */
export const listenGrant: (host: string, port: number) => string = hostPort;

export { multiaddrHostPorts };

/** Permissions of the role itself (not of its plugins) for this config. */
export function rolePermissions(loaded: RoleConfig, configPath: string): PermissionSet {
  const common: PermissionSet = {
    read: [configPath, "deno.json"],
    env: [ENV_WILDCARD, ...YAML_ENV],
  };
  switch (loaded.role) {
    case "proxy":
      return { ...common, net: proxyNet(loaded.config) };
    case "exit":
      return { ...common, net: exitNet(loaded.config) };
    case "hub":
      return { ...common, net: hubNet(loaded.config) };
  }
}

function metricsNet(config: { metricsPort: number; metricsBind: string }): string[] {
  return config.metricsPort > 0 ? [listenGrant(config.metricsBind, config.metricsPort)] : [];
}

/**
 * A proxy listens on its SOCKS ports and libp2p addresses and dials hubs and
 * exits. Exits found by discovery can be anywhere, so only a proxy whose every
 * server is hard-pinned to verbatim multiaddrs gets a host list.
 */
function proxyNet(config: ProxyConfig): string[] {
  const allPinnedVerbatim = config.servers.every((s) =>
    s.pinned.length > 0 && !s.fallbackToDiscovery && s.pinned.every((p) => p.address !== undefined)
  );
  if (!allPinnedVerbatim) return [ANY];
  return [
    ...config.servers.map((s) => listenGrant(s.bind, s.port)),
    ...metricsNet(config),
    ...multiaddrHostPorts(config.listenAddrs),
    ...multiaddrHostPorts(config.bootstrap),
    ...config.servers.flatMap((s) => multiaddrHostPorts(s.pinned.map((p) => p.address ?? ""))),
  ];
}

/** An exit connects to destinations anywhere (its egress policy, not Deno, decides). */
function exitNet(_config: ExitConfig): string[] {
  return [ANY];
}

/** A hub relays between peers anywhere. */
function hubNet(_config: HubConfig): string[] {
  return [ANY];
}
