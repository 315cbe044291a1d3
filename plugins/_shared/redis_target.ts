/**
 * Where a Redis store (the hub's registry, the proxy's quota totals) connects: a `redis://` or
 * `rediss://` (TLS) URL with an optional password in it (or from the variable
 * `password_env` names), and the database number as the path.
 *
 * @module
 */
import { hostPort } from "../../core/host_port.ts";
import { P2proxyError } from "../../core/errors.ts";

/** Why a Redis store (the hub's registry, the proxy's quota totals) cannot be used. */
export type RedisStoreErrorCode = "bad-url" | "no-password" | "auth-failed" | "unavailable";

/** A Redis store's options or server are unusable; the message says what to change. */
export class RedisStoreError extends P2proxyError<RedisStoreErrorCode> {}

/** The default Redis port. */
export const DEFAULT_REDIS_PORT = 6379;

/** Redis's default number of databases (`databases 16`): `/0` … `/15`. */
const MAX_REDIS_DB = 15;

/** Where to connect, parsed from the `url` option. */
export interface RedisTarget {
  readonly host: string;
  readonly port: number;
  /** Database number (the URL's path, default 0). */
  readonly db: number;
  /** `rediss://`: speak TLS. */
  readonly tls: boolean;
  /** ACL user name from the URL, if any. */
  readonly username?: string;
  /** Password from the URL, if any (`password_env` overrides it). */
  readonly password?: string;
  /** The URL without its password, for log lines and messages. */
  readonly display: string;
}

/**
 * Parses `redis://[user[:password]@]host[:port][/db]` (or `rediss://`).
 *
 * @throws {RedisStoreError} `bad-url`, quoting the URL without its password.
 */
export function parseRedisUrl(text: string): RedisTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw badUrl(text, "it is not a URL");
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    throw badUrl(text, `its scheme is "${url.protocol.slice(0, -1)}"`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (host === "") throw badUrl(text, "it names no host");
  const port = url.port === "" ? DEFAULT_REDIS_PORT : Number(url.port);
  const path = url.pathname.replace(/^\//, "");
  const db = path === "" ? 0 : Number(path);
  if (!/^\d*$/.test(path) || db > MAX_REDIS_DB) {
    throw badUrl(text, `its path "/${path}" is not a database number from 0 to ${MAX_REDIS_DB}`);
  }
  if (url.search !== "" || url.hash !== "") {
    throw badUrl(text, "it has a query or fragment; options go in the plugin's own keys");
  }
  const username = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  return {
    host,
    port,
    db,
    tls: url.protocol === "rediss:",
    ...(username === "" ? {} : { username }),
    ...(password === "" ? {} : { password }),
    display: `${url.protocol}//${username === "" ? "" : `${username}@`}${
      hostPort(host, port)
    }/${db}`,
  };
}

/** The `host:port` Deno's `--allow-net` needs for this URL. */
export function redisNetPermission(text: string): string {
  const target = parseRedisUrl(text);
  return hostPort(target.host, target.port);
}

/** The URL with any password replaced by `***`, for quoting in messages. */
export function redactedUrl(text: string): string {
  return text.replace(/^(rediss?:\/\/[^:@/]*:)[^@/]*@/, "$1***@");
}

function badUrl(text: string, why: string): RedisStoreError {
  return new RedisStoreError(
    "bad-url",
    `The Redis url ${JSON.stringify(redactedUrl(text))} cannot be used: ${why}. ` +
      'Write it as "redis://host:6379/0" (or "rediss://" for TLS), with the password in the URL ' +
      "or in the variable `password_env` names.",
  );
}
