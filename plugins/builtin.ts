/**
 * The built-in plugins, as static imports so that a bundle or a compiled
 * binary always contains them. The CLI uses this list when the current
 * folder's deno.json has no `p2proxy.plugins`.
 *
 * @module
 */
import type { PluginDefinition } from "../core/plugin/contract.ts";
import { plugin as authConnect } from "./auth-connect/mod.ts";
import { plugin as authStatic } from "./auth-static/mod.ts";
import { plugin as clockFake } from "./clock-fake/mod.ts";
import { plugin as clockSystem } from "./clock-system/mod.ts";
import { plugin as directoryHub } from "./directory-hub/mod.ts";
import { plugin as geoipMmdb } from "./geoip-mmdb/mod.ts";
import { plugin as httpProxy } from "./http-proxy/mod.ts";
import { plugin as identityFile } from "./identity-file/mod.ts";
import { plugin as identityMemory } from "./identity-memory/mod.ts";
import { plugin as logEvents } from "./log-events/mod.ts";
import { plugin as metricsPrometheus } from "./metrics-prometheus/mod.ts";
import { plugin as networkLibp2p } from "./network-libp2p/mod.ts";
import { plugin as networkQuic } from "./network-quic/mod.ts";
import { plugin as quotaFile } from "./quota-file/mod.ts";
import { plugin as quotaKv } from "./quota-kv/mod.ts";
import { plugin as quotaRedis } from "./quota-redis/mod.ts";
import { plugin as registryKv } from "./registry-kv/mod.ts";
import { plugin as registryMemory } from "./registry-memory/mod.ts";
import { plugin as registryRedis } from "./registry-redis/mod.ts";
import { plugin as resolverStatic } from "./resolver-static/mod.ts";
import { plugin as resolverSystem } from "./resolver-system/mod.ts";
import { plugin as socks4 } from "./socks4/mod.ts";
import { plugin as socks5 } from "./socks5/mod.ts";
import { plugin as stickyFile } from "./sticky-file/mod.ts";
import { plugin as stickyKv } from "./sticky-kv/mod.ts";
import { plugin as stickyMemory } from "./sticky-memory/mod.ts";
import { plugin as tuiInk } from "./tui-ink/mod.ts";

/** Every built-in plugin. */
export const BUILTIN_PLUGINS: readonly PluginDefinition[] = [
  clockSystem,
  clockFake,
  identityFile,
  identityMemory,
  networkLibp2p,
  networkQuic,
  directoryHub,
  socks5,
  socks4,
  httpProxy,
  metricsPrometheus,
  logEvents,
  stickyFile,
  stickyKv,
  stickyMemory,
  registryMemory,
  registryKv,
  registryRedis,
  quotaFile,
  quotaKv,
  quotaRedis,
  authStatic,
  authConnect,
  resolverSystem,
  resolverStatic,
  tuiInk,
  geoipMmdb,
] as unknown as readonly PluginDefinition[];

/**
 * Which built-in provides a capability when several could and the config
 * does not choose. Applies only to the built-in list: a user's own plugin list
 * must make its choices explicit.
 */
export const BUILTIN_DEFAULT_PROVIDERS: Readonly<Record<string, string>> = {
  "clock": "@p2proxy/clock-system",
  "identity": "@p2proxy/identity-file",
  "sticky-store": "@p2proxy/sticky-file",
  "registry-store": "@p2proxy/registry-memory",
  "quota-store": "@p2proxy/quota-file",
  "resolver": "@p2proxy/resolver-system",
};

/** Short names for config `auth.provider` and `builtin:<name>` specifiers. */
export function builtinByShortName(short: string): PluginDefinition | undefined {
  return BUILTIN_PLUGINS.find((p) => p.name === `@p2proxy/${short}`);
}
