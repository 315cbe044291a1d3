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
import { z } from "zod";
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import type { PermissionSet } from "../../core/plugin/permissions.ts";
import { parseRedisUrl, redisNetPermission, RedisStoreError } from "../_shared/redis_target.ts";

// Types only: ioredis loads when the plugin is created.
export type { RedisQuotaStore, RedisQuotaStoreOptions } from "./redis_quota_store.ts";

/** The default `key_prefix`. */
export const DEFAULT_QUOTA_REDIS_KEY_PREFIX = "p2proxy:quota:";

/** The default `url`: a Redis on this host. */
export const DEFAULT_QUOTA_REDIS_URL = "redis://127.0.0.1:6379/0";

/**
 * The `debug` package ioredis loads lists the whole environment at import
 * (`Object.keys(process.env)`), which Deno only allows with unrestricted `--allow-env`.
 */
const IOREDIS_ENV: readonly string[] = ["*"];

/** Options of `@p2proxy/quota-redis` (those of `@p2proxy/registry-redis`, with its own prefix). */
export const QuotaRedisOptions = z.strictObject({
  /** `redis://[user[:password]@]host[:port][/db]` or `rediss://…` (TLS). */
  url: z.string().min(1).default(DEFAULT_QUOTA_REDIS_URL).refine((url) => {
    try {
      parseRedisUrl(url);
      return true;
    } catch {
      return false;
    }
  }, {
    message: 'url must look like "redis://host:6379/0" or "rediss://host:6380/0" ' +
      "(database 0 to 15, no query)",
  }),
  /** An environment variable holding the password (overrides one in the URL). */
  password_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
    message: "password_env must be an environment variable name such as REDIS_PASSWORD",
  }).optional(),
  /** PEM file of the CA(s) to trust for `rediss://`; default: the system's. */
  tls_ca_file: z.string().min(1).optional(),
  /** Every key starts with this, so several proxy groups can share one database. */
  key_prefix: z.string().regex(/^[A-Za-z0-9:_.-]{1,64}$/, {
    message: "key_prefix must be 1 to 64 letters, digits or : _ . -",
  }).default(DEFAULT_QUOTA_REDIS_KEY_PREFIX),
  /** How long the proxy waits for Redis at start before going on without it. */
  connect_timeout_secs: z.number().positive().max(300).default(5),
});

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
  return {
    net: [redisNetPermission(options.url)],
    env: [...IOREDIS_ENV],
    ...(options.tls_ca_file ? { read: [options.tls_ca_file] } : {}),
  };
}

/** The password from `password_env`; throws `no-password` naming the variable when it is unset. */
function passwordFrom(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const value = Deno.env.get(name);
  if (value === undefined || value === "") {
    throw new RedisStoreError(
      "no-password",
      `The Redis quota store's password_env names ${name}, which is not set: export ${name} ` +
        "with the Redis password, or remove password_env.",
    );
  }
  return value;
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
    const password = passwordFrom(options.password_env);
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
