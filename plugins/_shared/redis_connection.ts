/**
 * What the Redis-backed plugins (`@p2proxy/registry-redis`, `@p2proxy/quota-redis`) share about
 * reaching Redis: their options, the permissions those options need, the password from
 * `password_env`, and the ioredis client settings (fail fast while disconnected, reconnect with
 * backoff until closed).
 *
 * @module
 */
import type { RedisOptions } from "ioredis";
import { z } from "zod";
import type { PermissionSet } from "../../core/plugin/permissions.ts";
import {
  parseRedisUrl,
  redisNetPermission,
  RedisStoreError,
  type RedisTarget,
} from "./redis_target.ts";

/** The default `url`: a Redis on this host. */
export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0";

/** The default `connect_timeout_secs`. */
export const DEFAULT_REDIS_CONNECT_TIMEOUT_SECS = 5;

/** A command Redis has not answered in this long fails (the caller falls back or retries). */
export const COMMAND_TIMEOUT_MS = 2_000;

/** First reconnect pause; doubles per failed attempt. */
export const RECONNECT_INITIAL_MS = 100;

/** Longest reconnect pause. */
export const RECONNECT_MAX_MS = 5_000;

/**
 * The `debug` package ioredis loads lists the whole environment at import
 * (`Object.keys(process.env)`), which Deno only allows with unrestricted `--allow-env`.
 */
const IOREDIS_ENV: readonly string[] = ["*"];

/**
 * The options schema of a Redis-backed plugin; only the default `key_prefix` differs.
 *
 * @example
 * ```ts
 * const QuotaRedisOptions = redisStoreOptions("p2proxy:quota:");
 * QuotaRedisOptions.parse({ url: "redis://10.0.0.5:6379/0" }).key_prefix; // "p2proxy:quota:"
 * ```
 */
export function redisStoreOptions(defaultKeyPrefix: string) {
  return z.strictObject({
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
    /** Every key starts with this, so several groups of nodes can share one database. */
    key_prefix: z.string().regex(/^[A-Za-z0-9:_.-]{1,64}$/, {
      message: "key_prefix must be 1 to 64 letters, digits or : _ . -",
    }).default(defaultKeyPrefix),
    /** How long the node waits for Redis at start before going on without it. */
    connect_timeout_secs: z.number().positive().max(300).default(
      DEFAULT_REDIS_CONNECT_TIMEOUT_SECS,
    ),
  });
}

/** Parsed options of a Redis-backed plugin. */
export type RedisStoreOptions = z.output<ReturnType<typeof redisStoreOptions>>;

/**
 * Exactly what these options need: the Redis host:port, the environment (ioredis's `debug`
 * lists it), and the CA file when one is given.
 *
 * @example
 * ```ts
 * redisStorePermissions(redisStoreOptions("p").parse({ url: "redis://10.0.0.5:6379/2" }));
 * // { net: ["10.0.0.5:6379"], env: ["*"] }
 * ```
 */
export function redisStorePermissions(options: RedisStoreOptions): PermissionSet {
  return {
    net: [redisNetPermission(options.url)],
    env: [...IOREDIS_ENV],
    ...(options.tls_ca_file ? { read: [options.tls_ca_file] } : {}),
  };
}

/**
 * The password from `password_env`; throws `no-password` naming the variable when it is unset.
 * `store` names the plugin's store in the message ("The Redis registry").
 *
 * @example
 * ```ts
 * const password = redisPasswordFrom(options.password_env, "The Redis quota store");
 * ```
 */
export function redisPasswordFrom(name: string | undefined, store: string): string | undefined {
  if (name === undefined) return undefined;
  const value = Deno.env.get(name);
  if (value === undefined || value === "") {
    throw new RedisStoreError(
      "no-password",
      `${store}'s password_env names ${name}, which is not set: export ${name} ` +
        "with the Redis password, or remove password_env.",
    );
  }
  return value;
}

/** Where and how a Redis-backed store connects. */
export interface RedisConnectionSettings {
  /** Where Redis is (from `parseRedisUrl`). */
  readonly target: RedisTarget;
  /** Overrides the URL's password (read from `password_env`). */
  readonly password?: string;
  /** PEM CA certificate(s) to trust for `rediss://`; default: the system's. */
  readonly tlsCa?: string;
  /** How long a connection attempt may take. */
  readonly connectTimeoutMs: number;
}

/**
 * The ioredis settings of a store's client: no connection before `connect()`, commands fail at
 * once while disconnected (the store falls back instead of waiting), and reconnects back off
 * ({@link RECONNECT_INITIAL_MS} ×2 up to {@link RECONNECT_MAX_MS}) until `closed()` says stop.
 *
 * @example
 * ```ts
 * const redis = new Redis(redisClientOptions(settings, () => closed));
 * ```
 */
export function redisClientOptions(
  settings: RedisConnectionSettings,
  closed: () => boolean,
): RedisOptions {
  const { target, tlsCa } = settings;
  const password = settings.password ?? target.password;
  return {
    host: target.host,
    port: target.port,
    db: target.db,
    ...(target.username ? { username: target.username } : {}),
    ...(password ? { password } : {}),
    ...(target.tls ? { tls: { servername: target.host, ...(tlsCa ? { ca: [tlsCa] } : {}) } } : {}),
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectTimeout: settings.connectTimeoutMs,
    retryStrategy: (attempt) =>
      closed()
        ? null
        : Math.min(RECONNECT_INITIAL_MS * 2 ** Math.max(0, attempt - 1), RECONNECT_MAX_MS),
  };
}
