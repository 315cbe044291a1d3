/**
 * `@p2proxy/quota-redis`: the proxy's quota totals in Redis (docs/limits.md#shared-quota), so
 * proxies on any host count one total per account. Chosen with
 * `providers: { quota-store: quota-redis }`.
 *
 * Options as `@p2proxy/registry-redis`'s: `url` (`redis://host:6379/0`, or `rediss://` for TLS),
 * `password_env`, `tls_ca_file`, `key_prefix` (default `p2proxy:quota:`),
 * `connect_timeout_secs`. Permissions: net to the URL's host:port, the whole environment (the
 * `debug` package ioredis loads lists it), read on `tls_ca_file`.
 *
 * @example
 * ```yaml
 * providers: { quota-store: quota-redis }
 * plugins:
 *   "@p2proxy/quota-redis": { url: "redis://10.0.0.5:6379/0", password_env: REDIS_PASSWORD }
 * ```
 *
 * @module
 */
import type { z } from "zod";
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import type { PermissionSet } from "../../core/plugin/permissions.ts";
import {
  DEFAULT_REDIS_URL,
  redisPasswordFrom,
  redisStoreOptions,
  redisStorePermissions,
} from "../_shared/redis_connection.ts";
import { parseRedisUrl } from "../_shared/redis_target.ts";

// Types only: ioredis loads when the plugin is created.
export type { RedisQuotaStore, RedisQuotaStoreOptions } from "./redis_quota_store.ts";

/** The default `key_prefix`. */
export const DEFAULT_QUOTA_REDIS_KEY_PREFIX = "p2proxy:quota:";

/** The default `url`: a Redis on this host. */
export const DEFAULT_QUOTA_REDIS_URL = DEFAULT_REDIS_URL;

/** Options of `@p2proxy/quota-redis` (those of `@p2proxy/registry-redis`, with its own prefix). */
export const QuotaRedisOptions = redisStoreOptions(DEFAULT_QUOTA_REDIS_KEY_PREFIX);

/** Parsed options of `@p2proxy/quota-redis`. */
export type QuotaRedisOptions = z.output<typeof QuotaRedisOptions>;

/**
 * Exactly what these options need: the Redis host:port, the environment (ioredis's `debug`
 * lists it), and the CA file when one is given.
 *
 * @example
 * ```ts
 * quotaRedisPermissions(QuotaRedisOptions.parse({ url: "redis://10.0.0.5:6379/2" }));
 * // { net: ["10.0.0.5:6379"], env: ["*"] }
 * ```
 */
export function quotaRedisPermissions(options: QuotaRedisOptions): PermissionSet {
  return redisStorePermissions(options);
}

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/quota-redis",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "Quota totals in Redis, one total for proxies on any host.",
  provides: ["quota-store"],
  options: QuotaRedisOptions,
  permissions: (options) => quotaRedisPermissions(options),
  create: async (options) => {
    const { RedisQuotaStore } = await import("./redis_quota_store.ts");
    const password = redisPasswordFrom(options.password_env, "The Redis quota store");
    const store = new RedisQuotaStore({
      target: parseRedisUrl(options.url),
      keyPrefix: options.key_prefix,
      connectTimeoutMs: options.connect_timeout_secs * 1000,
      ...(password === undefined ? {} : { password }),
      ...(options.tls_ca_file ? { tlsCa: await Deno.readTextFile(options.tls_ca_file) } : {}),
    });
    return {
      provides: { "quota-store": store },
      start: () => store.start(),
      stop: () => store.close(),
    };
  },
});

export default plugin;
