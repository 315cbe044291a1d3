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
import { z } from "zod";
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import type { PermissionSet } from "../../core/plugin/permissions.ts";
import { parseRedisUrl, redisNetPermission, RedisRegistryError } from "./redis_target.ts";

// Types only: ioredis loads when the plugin is created, so `check`, `plugins`
// and other commands that never open a registry do not load it.
export type { RedisRegistryStore, RedisRegistryStoreOptions } from "./redis_registry_store.ts";
export {
  parseRedisUrl,
  RedisRegistryError,
  type RedisRegistryErrorCode,
  type RedisTarget,
} from "./redis_target.ts";

/** The default `url`: a Redis on this host. */
export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0";

/** The default `key_prefix`. */
export const DEFAULT_REDIS_KEY_PREFIX = "p2proxy:registry:";

/** The default `connect_timeout_secs`. */
export const DEFAULT_REDIS_CONNECT_TIMEOUT_SECS = 5;

/**
 * The `debug` package ioredis loads lists the whole environment at import
 * (`Object.keys(process.env)`), which Deno only allows with unrestricted
 * `--allow-env` (the hub grants it anyway, for libp2p's logger).
 */
const IOREDIS_ENV: readonly string[] = ["*"];

/** Options of `@p2proxy/registry-redis`. */
export const RegistryRedisOptions = z.strictObject({
  /** `redis://[user[:password]@]host[:port][/db]` or `rediss://…` (TLS). */
  url: z.string().min(1).default(DEFAULT_REDIS_URL).refine((url) => {
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
  /** Every key starts with this, so several registries can share one database. */
  key_prefix: z.string().regex(/^[A-Za-z0-9:_.-]{1,64}$/, {
    message: "key_prefix must be 1 to 64 letters, digits or : _ . -",
  }).default(DEFAULT_REDIS_KEY_PREFIX),
  /** How long the hub waits for Redis at start before going on without it. */
  connect_timeout_secs: z.number().positive().max(300).default(
    DEFAULT_REDIS_CONNECT_TIMEOUT_SECS,
  ),
});

/** Parsed options of `@p2proxy/registry-redis`. */
export type RegistryRedisOptions = z.output<typeof RegistryRedisOptions>;

/**
 * Exactly what these options need: the Redis host:port, the environment
 * (see {@link IOREDIS_ENV}), and the CA file when one is given.
 *
 * @example
 * ```ts
 * registryRedisPermissions(RegistryRedisOptions.parse({ url: "redis://10.0.0.5:6379/2" }));
 * // { net: ["10.0.0.5:6379"], env: ["*"] }
 * ```
 */
export function registryRedisPermissions(options: RegistryRedisOptions): PermissionSet {
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
    throw new RedisRegistryError(
      "no-password",
      `The Redis registry's password_env names ${name}, which is not set: export ${name} ` +
        "with the Redis password, or remove password_env.",
    );
  }
  return value;
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
    const password = passwordFrom(options.password_env);
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
