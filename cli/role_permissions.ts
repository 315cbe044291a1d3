/**
 * The Deno permissions a role needs for a given config, beyond those of its
 * plugins: its listeners, who it dials, the files it reads, the env it reads.
 * `p2proxy permissions` merges this with the plugins' own declarations.
 *
 * @module
 */
import { hostPort, multiaddrHostPorts } from "../core/host_port.ts";
import { isRelayedAddress } from "../core/ids.ts";
import type { ExitConfig, HubConfig, ProxyConfig } from "../core/config/mod.ts";
import { mergePermissions, type PermissionSet } from "../core/plugin/permissions.ts";
import type { RoleConfig } from "./config_file.ts";
import { stateDirLockPermissions } from "./state_dir_lock.ts";
import { LIBP2P_ENV } from "../plugins/network-libp2p/mod.ts";
import { tlsListenOf } from "../plugins/network-quic/mod.ts";

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

/**
 * The Deno release this project pins (README, `.ci/run`): `--npx` lines run
 * it through `npx -y deno@<this>`, whose permission flags are the ones
 * computed here.
 */
export const PINNED_DENO_VERSION = "2.9.6";

/**
 * The words that start a printed line: `deno`, or `npx -y deno@<pinned>` for
 * a machine that has Node.js and npm but no `deno` on PATH.
 *
 * @example
 * ```ts
 * launcherWords("npx"); // ["npx", "-y", "deno@2.9.6"]
 * ```
 */
export function launcherWords(launcher: "deno" | "npx"): string[] {
  return launcher === "deno" ? ["deno"] : ["npx", "-y", `deno@${PINNED_DENO_VERSION}`];
}

/** Characters a POSIX shell leaves alone in a word. */
const SHELL_SAFE = /^[A-Za-z0-9_\-.,/:=@%+]+$/;

/**
 * A word as a POSIX shell reads it back unchanged: as is when it has no
 * special character, else in single quotes (`P2PROXY_*` would be a glob, a
 * path may have spaces).
 *
 * @example
 * ```ts
 * shellQuote("--allow-env=P2PROXY_*"); // "'--allow-env=P2PROXY_*'"
 * ```
 */
export function shellQuote(word: string): string {
  return SHELL_SAFE.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Host and port of a listening socket as Deno's net permission spells it. */
export const listenGrant: (host: string, port: number) => string = hostPort;

export { multiaddrHostPorts };

/**
 * Permissions of the role itself (not of its plugins) for this config: its
 * config file, the plugin list, its variables, the state dir's lock file
 * (`cli/state_dir_lock.ts`) and its network.
 */
export function rolePermissions(loaded: RoleConfig, configPath: string): PermissionSet {
  const common = mergePermissions({
    read: [configPath, "deno.json"],
    env: [ENV_WILDCARD, ...YAML_ENV],
  }, stateDirLockPermissions(loaded.config.stateDir));
  switch (loaded.role) {
    case "proxy":
      return { ...common, net: proxyNet(loaded.config) };
    case "exit":
      return { ...common, net: exitNet(loaded.config) };
    case "hub":
      return { ...common, net: hubNet(loaded.config) };
  }
}

/**
 * The demo's own needs (its plugins add theirs): the network without a list,
 * because its exits open connections to whatever a user asks for (their
 * egress policy decides, as on a real exit) — that also covers its loopback
 * listeners (hub, exits, SOCKS ports, whoami, metrics) and the exits' source
 * addresses 127.0.0.2 and 127.0.0.3; the environment for libp2p's logger; and
 * the plugin list. It listens on 127.0.0.1 only (no interface list) and
 * writes no file.
 */
export function demoPermissions(): PermissionSet {
  return { net: [ANY], env: [...LIBP2P_ENV], read: ["deno.json"] };
}

function metricsNet(config: { metricsPort: number; metricsBind: string }): string[] {
  return config.metricsPort > 0 ? [listenGrant(config.metricsBind, config.metricsPort)] : [];
}

/**
 * A proxy listens on its SOCKS ports and libp2p addresses and dials hubs and
 * exits. Exits found by discovery can be anywhere, so only a proxy whose every
 * server is hard-pinned to verbatim multiaddrs gets a host list. A port that
 * serves SOCKS5 (`mixed`, `socks5`) also gets its bind host with every port:
 * UDP ASSOCIATE binds a relay socket there on a port the OS chooses and sends
 * replies from it to the client, which on a loopback port is on that host (a
 * client elsewhere, on a wildcard `bind`, is outside the list: its replies
 * are refused, so such a proxy needs a wider grant for UDP).
 */
function proxyNet(config: ProxyConfig): string[] {
  const allPinnedVerbatim = config.servers.every((s) =>
    s.pinned.length > 0 && !s.fallbackToDiscovery && s.pinned.every((p) => p.address !== undefined)
  );
  if (!allPinnedVerbatim) return [ANY];
  return [
    ...config.servers.map((s) => listenGrant(s.bind, s.port)),
    ...udpRelayHosts(config),
    ...metricsNet(config),
    ...multiaddrHostPorts(config.listenAddrs),
    ...multiaddrHostPorts(config.bootstrap),
    ...config.servers.flatMap((s) => multiaddrHostPorts(s.pinned.map((p) => p.address ?? ""))),
    // The pinned exits' TLS listeners, at their default port (the TCP port + 1); an exit that
    // serves TLS elsewhere is reached over QUIC streams instead, a relayed one over libp2p.
    ...(config.quic === "never" || config.tls === "never"
      ? []
      : config.servers.flatMap((s) =>
        multiaddrHostPorts(
          s.pinned.map((p) => p.address ?? "").filter((address) => !isRelayedAddress(address)),
        ).map(tlsListenOf)
      )),
  ];
}

/** The bind hosts of the ports that serve UDP ASSOCIATE (all ports of each), once each. */
function udpRelayHosts(config: ProxyConfig): string[] {
  const hosts = config.servers
    .filter((s) => s.protocol === "mixed" || s.protocol === "socks5")
    .map((s) => s.bind.includes(":") ? `[${s.bind}]` : s.bind);
  return [...new Set(hosts)];
}

/** An exit connects to destinations anywhere (its egress policy, not Deno, decides). */
function exitNet(_config: ExitConfig): string[] {
  return [ANY];
}

/** A hub relays between peers anywhere. */
function hubNet(_config: HubConfig): string[] {
  return [ANY];
}
