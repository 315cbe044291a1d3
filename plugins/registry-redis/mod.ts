/**
 * `@p2proxy/registry-redis`: the hub's registry of exits in Redis, so that
 * hubs on different hosts share one registry (docs/hub-behaviour.md#shared-registry).
 * Chosen with `providers: { registry-store: "@p2proxy/registry-redis" }`.
 *
 * Options: `url` (`redis://host:6379/0`, or `rediss://` for TLS; a password
 * may be in it), `password_env` (a variable holding the password instead),
 * `tls_ca_file` (a PEM CA for `rediss://`), `key_prefix`,
 * `connect_timeout_secs`. Permissions: net to the URL's host:port, the
 * whole environment (the `debug` package ioredis loads lists it), read on
 * `tls_ca_file`.
 *
 * @example
 * ```yaml
 * providers: { registry-store: "@p2proxy/registry-redis" }
 * plugins:
 *   "@p2proxy/registry-redis": { url: "redis://10.0.0.5:6379/0", password_env: REDIS_PASSWORD }
 * ```
 *
 * @module
 */
import type { z } from "zod";
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import type { PermissionSet } from "../../core/plugin/permissions.ts";
import {
  DEFAULT_REDIS_CONNECT_TIMEOUT_SECS,
  DEFAULT_REDIS_URL,
  redisPasswordFrom,
  redisStoreOptions,
  redisStorePermissions,
} from "../_shared/redis_connection.ts";
import { parseRedisUrl } from "./redis_target.ts";

// Types only: ioredis loads when the plugin is created, so `check`, `plugins`
// and other commands that never open a registry do not load it.
export type { RedisRegistryStore, RedisRegistryStoreOptions } from "./redis_registry_store.ts";
export {
  parseRedisUrl,
  RedisRegistryError,
  type RedisRegistryErrorCode,
  type RedisTarget,
} from "./redis_target.ts";

export { DEFAULT_REDIS_CONNECT_TIMEOUT_SECS, DEFAULT_REDIS_URL };

/** The default `key_prefix`. */
export const DEFAULT_REDIS_KEY_PREFIX = "p2proxy:registry:";

/** Options of `@p2proxy/registry-redis`. */
export const RegistryRedisOptions = redisStoreOptions(DEFAULT_REDIS_KEY_PREFIX);

/** Parsed options of `@p2proxy/registry-redis`. */
export type RegistryRedisOptions = z.output<typeof RegistryRedisOptions>;

/**
 * Exactly what these options need: the Redis host:port, the environment
 * (ioredis's `debug` lists it), and the CA file when one is given.
 *
 * @example
 * ```ts
 * registryRedisPermissions(RegistryRedisOptions.parse({ url: "redis://10.0.0.5:6379/2" }));
 * // { net: ["10.0.0.5:6379"], env: ["*"] }
 * ```
 */
export function registryRedisPermissions(options: RegistryRedisOptions): PermissionSet {
  return redisStorePermissions(options);
}

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/registry-redis",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "The hub's registry of exits in Redis, shared by hubs on any host.",
  provides: ["registry-store"],
  options: RegistryRedisOptions,
  permissions: (options) => registryRedisPermissions(options),
  create: async (options) => {
    const { RedisRegistryStore } = await import("./redis_registry_store.ts");
    const password = redisPasswordFrom(options.password_env, "The Redis registry");
    const store = new RedisRegistryStore({
      target: parseRedisUrl(options.url),
      keyPrefix: options.key_prefix,
      connectTimeoutMs: options.connect_timeout_secs * 1000,
      ...(password === undefined ? {} : { password }),
      ...(options.tls_ca_file ? { tlsCa: await Deno.readTextFile(options.tls_ca_file) } : {}),
    });
    return {
      provides: { "registry-store": store },
      start: () => store.start(),
      stop: () => store.close(),
    };
  },
});

export default plugin;
