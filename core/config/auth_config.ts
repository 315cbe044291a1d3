/**
 * The auth service's configuration, `Auth.yaml` (docs/authentication.md): where
 * `p2proxy auth serve` listens, which network its tokens are for, how long
 * they live, which key signs them, and the API keys it accepts — stored as
 * hashes only (`p2proxy auth add-key` writes them).
 *
 * @example
 * ```yaml
 * listen: 127.0.0.1:8443
 * grpc_port: 8444
 * network_id: acme-exits
 * token_ttl_secs: 3600
 * state_dir: /var/lib/p2proxy-auth
 * api_keys:
 *   - name: laptop
 *     hash: sha256:47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU
 *     role: proxy
 * ```
 *
 * @module
 */
import { z } from "zod";
import {
  choiceSchema,
  DEFAULT_LOG_LEVEL,
  DEFAULT_STATE_DIR,
  durationSecsSchema,
  fail,
  type LogLevel,
  logLevelSchema,
  nonEmptyStringSchema,
  parseIpLiteral,
  portOrZeroSchema,
} from "./common.ts";
import {
  type ConfigNotes,
  type EnvBinding,
  envBinding,
  loadConfig,
  type LoadOptions,
  type RoleSpec,
} from "./loader.ts";
import { describeKind, describeValue, quote } from "./problems.ts";

// ---------------------------------------------------------------------------
// Defaults and formats

/**
 * Where the service listens: loopback, so a fresh service is reachable only from its own host until
 * the operator decides otherwise (docs/operations.md#security-defaults). 8443 is the conventional
 * alternative HTTPS port, which is what the service becomes once `tls` is set.
 */
export const AUTH_DEFAULT_LISTEN = "127.0.0.1:8443";
/** Host part of {@link AUTH_DEFAULT_LISTEN}. */
export const AUTH_DEFAULT_HOST = "127.0.0.1";
/** Port part of {@link AUTH_DEFAULT_LISTEN}. */
export const AUTH_DEFAULT_PORT = 8443;
/**
 * Token lifetime (short-lived, docs/authentication.md#tokens): an hour, refreshed by clients at
 * 80 % of it.
 */
export const DEFAULT_TOKEN_TTL_SECS = 3600;
/** The network id tokens carry when the operator names none. */
export const DEFAULT_NETWORK_ID = "p2proxy";
/** The `iss` claim when the operator names none. */
export const DEFAULT_ISSUER = "p2proxy-auth";
/** The signing key file, relative to `state_dir`: PKCS#8 PEM, created on first run (mode 0600). */
export const DEFAULT_SIGNING_KEY_FILE = "auth_signing_key.pem";
/** Every API key `p2proxy auth add-key` generates starts with this, so secret scanners spot a leak. */
export const API_KEY_PREFIX = "p2pk_";
/** The only hash scheme so far: SHA-256 of the key's UTF-8 bytes, base64url without padding. */
export const API_KEY_HASH_SCHEME = "sha256";
/** A stored API key hash: `sha256:` and 43 base64url characters (32 bytes). */
export const API_KEY_HASH_PATTERN = /^sha256:[A-Za-z0-9_-]{43}$/;
/** What a network id may contain: it travels in every token and shows up in logs. */
const NETWORK_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Shortest token lifetime: below a few seconds clients would do nothing but refresh. */
const MIN_TOKEN_TTL_SECS = 2;
/** Most API keys one file holds; far beyond a hand-kept list, bounds the constant-time scan. */
const MAX_API_KEYS = 10_000;
/** Longest API key name; names show up in logs. */
const MAX_KEY_NAME_CHARS = 64;
/** Most retired signing keys still published during a rotation. */
const MAX_PREVIOUS_KEYS = 16;

// ---------------------------------------------------------------------------
// Output types

/** The roles an API key may request tokens for. */
export type ApiKeyRole = "proxy" | "exit" | "both";

/** One accepted API key: its name (for logs), its hash, and the roles it may ask for. */
export interface ApiKeyEntry {
  /** A label for logs and for removing the key later; unique in the file. */
  readonly name: string;
  /** `sha256:<base64url>` of the key; the key itself is never stored. */
  readonly hash: string;
  /** The token roles this key may ask for. */
  readonly role: ApiKeyRole;
}

/** Where a listener binds. */
export interface ListenAddress {
  /** An IP literal, canonical (`127.0.0.1`, `::1`). */
  readonly hostname: string;
  /** 0 lets the OS pick (tests). */
  readonly port: number;
}

/** TLS for the listeners: PEM files read at start-up. */
export interface TlsFiles {
  /** Path of the PEM certificate chain. */
  readonly certFile: string;
  /** Path of the PEM private key. */
  readonly keyFile: string;
}

/** The auth service's configuration. */
export interface AuthServiceConfig extends ConfigNotes {
  /** Connect (JSON and binary) and gRPC-web over HTTP/1.1 and h2c, on the Deno HTTP server. */
  readonly listen: ListenAddress;
  /** A second port on the same address for real gRPC (HTTP/2, node:http2); absent = off. */
  readonly grpcPort?: number;
  /** The `net` claim of every token. */
  readonly networkId: string;
  /** The `iss` claim of every token. */
  readonly issuer: string;
  /** Lifetime of an issued token. */
  readonly tokenTtlMs: number;
  /** Directory of the signing key (and relative paths). */
  readonly stateDir: string;
  /** The key that signs tokens (PKCS#8 PEM); relative to `stateDir` unless absolute. */
  readonly signingKey: string;
  /** Retired signing keys (PEM, private or public) whose public halves are still published. */
  readonly previousSigningKeys: readonly string[];
  /** The accepted API keys. */
  readonly apiKeys: readonly ApiKeyEntry[];
  /** The lowest level the service logs. */
  readonly logLevel: LogLevel;
  /** TLS for both listeners; absent = plain HTTP (fine on loopback or behind a TLS proxy). */
  readonly tls?: TlsFiles;
}

// ---------------------------------------------------------------------------
// Field schemas

/** Parses `host:port` (`127.0.0.1:8443`, `[::1]:8443`); the host must be an IP literal. */
export function parseListenSocket(
  text: string,
): { ok: true; value: ListenAddress } | { ok: false; message: string } {
  const match = /^\[?([^\]]*?)\]?:(\d{1,5})$/.exec(text.trim());
  const port = match?.[2] === undefined ? NaN : Number(match[2]);
  if (!match?.[1] || !Number.isInteger(port) || port > 65_535) {
    return {
      ok: false,
      message: `Expected an address and port such as "127.0.0.1:8443" or "[::1]:8443", got ${
        quote(text)
      }.`,
    };
  }
  const host = parseIpLiteral(match[1]);
  if (!host.ok) return host;
  return { ok: true, value: { hostname: host.value, port } };
}

const listenSchema = z.unknown().transform((value, ctx): ListenAddress => {
  if (typeof value !== "string") {
    return fail(ctx, `Expected an address such as "127.0.0.1:8443", got ${describeValue(value)}.`);
  }
  const parsed = parseListenSocket(value);
  return parsed.ok ? parsed.value : fail(ctx, parsed.message);
});

const networkIdSchema = z.unknown().transform((value, ctx): string => {
  if (typeof value === "string" && NETWORK_ID_PATTERN.test(value.trim())) return value.trim();
  return fail(
    ctx,
    `Expected a network id of letters, digits, ".", "_" or "-" (at most 128, e.g. "acme-exits"), ` +
      `got ${describeValue(value)}.`,
  );
});

/** A stored API key hash; a pasted key (not its hash) gets its own message and is never echoed. */
const apiKeyHashSchema = z.unknown().transform((value, ctx): string => {
  if (typeof value === "string" && value.trim().startsWith(API_KEY_PREFIX)) {
    return fail(
      ctx,
      "This is an API key itself, not its hash: never store keys in the config. Remove it and " +
        'run "p2proxy auth add-key" to create a key and store its hash.',
    );
  }
  if (typeof value === "string" && API_KEY_HASH_PATTERN.test(value.trim())) return value.trim();
  return fail(
    ctx,
    `Expected a hash written by "p2proxy auth add-key" (sha256: and 43 base64url characters), ` +
      `got ${
        typeof value === "string" ? `a string of ${value.length} characters` : describeKind(value)
      }.`,
  );
});

const keyNameSchema = z.string().trim().min(1).max(MAX_KEY_NAME_CHARS);

const apiKeySchema = z.strictObject({
  name: keyNameSchema,
  hash: apiKeyHashSchema,
  role: choiceSchema<ApiKeyRole>(["proxy", "exit", "both"]),
});

/** Duplicate names and hashes are checked on the raw list (see {@link checkDuplicateKeys}), so they are reported even when another entry is broken. */
const apiKeysSchema = z.array(apiKeySchema).max(MAX_API_KEYS);

const tlsSchema = z.strictObject({
  cert: nonEmptyStringSchema,
  key: nonEmptyStringSchema,
}).transform((raw): TlsFiles => ({ certFile: raw.cert, keyFile: raw.key }));

// ---------------------------------------------------------------------------
// Schema

/** The schema of an auth config file (snake_case in, {@link AuthServiceConfig} without notes out). */
export const authConfigSchema: z.ZodType<Omit<AuthServiceConfig, "warnings">> = z.strictObject({
  listen: listenSchema.prefault(AUTH_DEFAULT_LISTEN),
  grpc_port: portOrZeroSchema.optional(),
  network_id: networkIdSchema.prefault(DEFAULT_NETWORK_ID),
  issuer: z.string().trim().min(1).max(256).default(DEFAULT_ISSUER),
  token_ttl_secs: z.number().min(MIN_TOKEN_TTL_SECS).pipe(durationSecsSchema({ allowZero: false }))
    .prefault(DEFAULT_TOKEN_TTL_SECS),
  state_dir: nonEmptyStringSchema.default(DEFAULT_STATE_DIR),
  signing_key: nonEmptyStringSchema.default(DEFAULT_SIGNING_KEY_FILE),
  previous_signing_keys: z.array(nonEmptyStringSchema).max(MAX_PREVIOUS_KEYS).default([]),
  api_keys: apiKeysSchema.prefault([]),
  log_level: logLevelSchema.default(DEFAULT_LOG_LEVEL),
  tls: tlsSchema.optional(),
}).transform((raw): Omit<AuthServiceConfig, "warnings"> => ({
  listen: raw.listen,
  ...(raw.grpc_port === undefined ? {} : { grpcPort: raw.grpc_port }),
  networkId: raw.network_id,
  issuer: raw.issuer,
  tokenTtlMs: raw.token_ttl_secs,
  stateDir: raw.state_dir,
  signingKey: raw.signing_key,
  previousSigningKeys: raw.previous_signing_keys,
  apiKeys: raw.api_keys,
  logLevel: raw.log_level,
  ...(raw.tls === undefined ? {} : { tls: raw.tls }),
}));

/** The environment variables `auth serve` reads; API keys never come from the environment. */
export const AUTH_ENV: readonly EnvBinding[] = [
  envBinding("listen", "string"),
  envBinding("grpc_port", "integer"),
  envBinding("network_id", "string"),
  envBinding("issuer", "string"),
  envBinding("token_ttl_secs", "number"),
  envBinding("state_dir", "string"),
  envBinding("signing_key", "string"),
  envBinding("log_level", "string"),
] as const;

/** Reports a problem at a path of the raw config. */
type Report = (path: readonly (string | number)[], message: string) => void;

/** The gRPC port must not be the Connect port. */
function checkPorts(raw: Readonly<Record<string, unknown>>, report: Report): void {
  const grpc = raw.grpc_port;
  if (typeof grpc !== "number" || grpc === 0) return;
  const listenText = raw.listen === undefined ? AUTH_DEFAULT_LISTEN : raw.listen;
  const listen = typeof listenText === "string" ? parseListenSocket(listenText) : undefined;
  if (listen?.ok && listen.value.port === grpc) {
    report(
      ["grpc_port"],
      `The gRPC port ${grpc} is also the port of \`listen\`: give gRPC a port of its own, or ` +
        "remove `grpc_port` (Connect and gRPC-web are served on `listen` anyway).",
    );
  }
}

/** Names and hashes must be unique: logs and revocations must point at one key. */
function checkDuplicateKeys(raw: Readonly<Record<string, unknown>>, report: Report): void {
  if (!Array.isArray(raw.api_keys)) return;
  const names = new Map<string, number>();
  const hashes = new Map<string, number>();
  raw.api_keys.forEach((entry: unknown, index) => {
    if (typeof entry !== "object" || entry === null) return;
    const { name, hash } = entry as { name?: unknown; hash?: unknown };
    if (typeof name === "string") {
      const earlier = names.get(name.trim());
      if (earlier === undefined) names.set(name.trim(), index);
      else {
        report(
          ["api_keys", index, "name"],
          `The name ${quote(name.trim())} is used twice (also entry ${earlier}): names must be ` +
            "unique so that logs and revocations point at one key.",
        );
      }
    }
    if (typeof hash === "string" && API_KEY_HASH_PATTERN.test(hash.trim())) {
      const earlier = hashes.get(hash.trim());
      if (earlier === undefined) hashes.set(hash.trim(), index);
      else {
        report(
          ["api_keys", index, "hash"],
          `This hash is listed twice (also entry ${earlier}): keep one entry per key.`,
        );
      }
    }
  });
}

/** Keys of the node roles that people carry over to Auth.yaml, and why the service refuses them. */
const AUTH_FOREIGN_KEYS: Readonly<Record<string, string>> = {
  metrics_port: "The auth service has no metrics endpoint (only proxies, exits and hubs serve " +
    "/metrics): remove `metrics_port`.",
  metrics_bind: "The auth service has no metrics endpoint (only proxies, exits and hubs serve " +
    "/metrics): remove `metrics_bind`.",
  listen_addrs: "The auth service is not a libp2p node: it listens on `listen` (e.g. " +
    '"127.0.0.1:8443") and `grpc_port`; remove `listen_addrs`.',
  port: 'The auth service takes its address and port in `listen` (e.g. "127.0.0.1:8443"): ' +
    "remove `port`.",
};

/** Everything the generic loader needs to load an auth config. */
export const AUTH_ROLE: RoleSpec<Omit<AuthServiceConfig, "warnings">> = {
  role: "auth",
  schema: authConfigSchema,
  env: AUTH_ENV,
  check: (raw, report) => {
    checkPorts(raw, report);
    checkDuplicateKeys(raw, report);
  },
  foreignKeys: AUTH_FOREIGN_KEYS,
};

/**
 * Loads an auth service config from the text of `Auth.yaml` (or `.json`),
 * the environment and command-line overrides. An empty text gives the
 * defaults (no API keys: every request is refused until one is added).
 *
 * @throws {ConfigError} listing every problem found.
 */
export function loadAuthConfig(text: string, options: LoadOptions): AuthServiceConfig {
  return loadConfig(AUTH_ROLE, text, options);
}
