/**
 * The auth service's settings from environment variables alone, for the `./auth-handler`
 * export on a serverless platform, where there is no state dir and no config file
 * (docs/authentication.md#serverless). `p2proxy auth export-env` writes these values from an
 * `Auth.yaml` and its state dir.
 *
 * - `P2PROXY_AUTH_SIGNING_KEY`: the Ed25519 signing key, base64 of its PKCS#8 DER (a PEM's body
 *   on one line) or the PEM itself;
 * - `P2PROXY_AUTH_API_KEYS`: a JSON list of `{ "name", "hash", "role" }`, as `api_keys` in
 *   Auth.yaml (hashes only, never keys);
 * - `P2PROXY_AUTH_PREVIOUS_KEYS` (optional): retired keys' public halves, base64url,
 *   comma-separated;
 * - `P2PROXY_NETWORK_ID`, `P2PROXY_ISSUER`, `P2PROXY_TOKEN_TTL_SECS`, `P2PROXY_LOG_LEVEL`: as in
 *   Auth.yaml, defaults included.
 *
 * Why environment variables and not Deno KV: every serverless Deno platform has them, keeps them
 * as encrypted secrets and hands them to each instance at start; KV would need a way to put the
 * key there first, and a read on every cold start. The service holds no state of its own, so
 * nothing needs a database.
 *
 * @module
 */
import {
  API_KEY_HASH_PATTERN,
  AUTH_ENV,
  type AuthServiceConfig,
  loadAuthConfig,
} from "../core/config/auth_config.ts";
import { ConfigError, type ConfigProblem } from "../core/config/problems.ts";
import { describeError } from "../core/errors.ts";
import { signingKeyFromPem, type VerificationKey, verificationKeyFromText } from "../auth/keys.ts";
import { ApiKeyTable } from "./api_keys.ts";
import type { AuthServiceSettings } from "./auth_service.ts";

/** The variable holding the signing key. */
export const AUTH_SIGNING_KEY_ENV = "P2PROXY_AUTH_SIGNING_KEY";
/** The variable holding the accepted API keys' hashes (JSON). */
export const AUTH_API_KEYS_ENV = "P2PROXY_AUTH_API_KEYS";
/** The variable holding retired keys' public halves. */
export const AUTH_PREVIOUS_KEYS_ENV = "P2PROXY_AUTH_PREVIOUS_KEYS";

/** Keys of Auth.yaml the handler also takes from their usual `P2PROXY_*` variables. */
const CONFIG_KEYS_FROM_ENV: ReadonlySet<string> = new Set([
  "network_id",
  "issuer",
  "token_ttl_secs",
  "log_level",
]);

/** The `P2PROXY_*` config variables the handler reads (`P2PROXY_NETWORK_ID`…). */
const CONFIG_VARIABLES: readonly string[] = AUTH_ENV
  .filter((binding) => CONFIG_KEYS_FROM_ENV.has(binding.key))
  .map((binding) => binding.variable);

/**
 * Every variable {@link authSettingsFromEnv} reads: what `--allow-env=` must list (with
 * `P2PROXY_LOG_FORMAT` for the handler's log format).
 */
export const AUTH_HANDLER_ENV: readonly string[] = [
  AUTH_SIGNING_KEY_ENV,
  AUTH_API_KEYS_ENV,
  AUTH_PREVIOUS_KEYS_ENV,
  ...CONFIG_VARIABLES,
];

/** What the source of problems is called in messages. */
const ENV_SOURCE = "The auth handler's environment";

/** Longest variable looked at: far above a key list of thousands, far below a mistaken dump. */
const MAX_ENV_VALUE_CHARS = 4 << 20;

/** The `PRIVATE KEY` PEM armour around a PKCS#8 key. */
const PEM_BEGIN = "-----BEGIN PRIVATE KEY-----";
const PEM_END = "-----END PRIVATE KEY-----";

/** Base64 or base64url, padded or not: the one-line form of a key. */
const BASE64_PATTERN = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** The settings and the config they came from (defaults for what the environment leaves out). */
export interface AuthEnvSettings {
  /** The config the variables describe: `networkId`, `issuer`, `tokenTtlMs`, `logLevel`, keys. */
  readonly config: AuthServiceConfig;
  /** What the token service runs on. */
  readonly settings: AuthServiceSettings;
}

/**
 * The one-line form of a PKCS#8 PEM for {@link AUTH_SIGNING_KEY_ENV}: the base64 between the
 * armour lines, without line breaks.
 *
 * @example
 * ```ts
 * const value = signingKeyEnvValue(await Deno.readTextFile("state/auth_signing_key.pem"));
 * ```
 */
export function signingKeyEnvValue(pem: string): string {
  return pem.replace(PEM_BEGIN, "").replace(PEM_END, "").replace(/\s+/g, "");
}

/**
 * The PEM a {@link AUTH_SIGNING_KEY_ENV} value stands for: the value itself when it is a PEM,
 * else its base64 (or base64url) wrapped in the armour; undefined when it is neither.
 */
export function pemOfSigningKeyEnvValue(value: string): string | undefined {
  const trimmed = value.trim();
  if (trimmed.startsWith("-----BEGIN")) return trimmed.replaceAll("\\n", "\n");
  const compact = trimmed.replace(/\s+/g, "");
  if (!BASE64_PATTERN.test(compact)) return undefined;
  const base64 = compact.replaceAll("-", "+").replaceAll("_", "/");
  const lines = base64.match(/.{1,64}/g) ?? [];
  return [PEM_BEGIN, ...lines, PEM_END, ""].join("\n");
}

/**
 * Builds the auth service's settings from environment variables (see the module doc). Reports
 * every problem at once: throws a {@link ConfigError} whose problems name the variables.
 *
 * @example
 * ```ts
 * const { config, settings } = await authSettingsFromEnv({
 *   P2PROXY_AUTH_SIGNING_KEY: "MC4CAQAwBQYDK2VwBCIEI…",
 *   P2PROXY_AUTH_API_KEYS: '[{"name":"laptop","hash":"sha256:47DEQ…","role":"proxy"}]',
 *   P2PROXY_NETWORK_ID: "acme",
 * });
 * ```
 */
export async function authSettingsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): Promise<AuthEnvSettings> {
  const problems: ConfigProblem[] = [];
  const report = (path: string, message: string) => problems.push({ path, message });
  const apiKeys = parseApiKeysValue(env[AUTH_API_KEYS_ENV], report);
  const config = loadConfigFromEnv(env, apiKeys, problems);
  const signingKey = await readSigningKey(env[AUTH_SIGNING_KEY_ENV], report);
  const previousKeys = await readPreviousKeys(env[AUTH_PREVIOUS_KEYS_ENV], report);
  if (problems.length > 0 || config === undefined || signingKey === undefined) {
    throw new ConfigError("invalid", ENV_SOURCE, problems);
  }
  return {
    config,
    settings: {
      networkId: config.networkId,
      issuer: config.issuer,
      tokenTtlMs: config.tokenTtlMs,
      signingKey,
      previousKeys,
      apiKeys: new ApiKeyTable(config.apiKeys),
    },
  };
}

/** The JSON of {@link AUTH_API_KEYS_ENV}; an empty list (and a problem) when it is unusable. */
function parseApiKeysValue(
  value: string | undefined,
  report: (path: string, message: string) => void,
): unknown {
  if (value === undefined || value.trim() === "") {
    report(
      AUTH_API_KEYS_ENV,
      'Not set: give the accepted API keys\' hashes as JSON, e.g. [{"name":"laptop","hash":' +
        '"sha256:…","role":"proxy"}] ("p2proxy auth export-env -c Auth.yaml" prints it; [] ' +
        "refuses every request).",
    );
    return [];
  }
  if (value.length > MAX_ENV_VALUE_CHARS) {
    report(AUTH_API_KEYS_ENV, `Too long (${value.length} characters): is it the right value?`);
    return [];
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    report(
      AUTH_API_KEYS_ENV,
      `Not valid JSON (${describeError(error)}): give a JSON list of {"name", "hash", "role"} ` +
        'objects, as "p2proxy auth export-env" prints it.',
    );
    return [];
  }
  if (typeof parsed === "string" && parsed.startsWith("p2pk_")) {
    report(
      AUTH_API_KEYS_ENV,
      "This is an API key itself, not a list of hashes: the service stores only hashes. Give " +
        'what "p2proxy auth export-env" prints.',
    );
    return [];
  }
  return parsed;
}

/** Auth.yaml's keys from the environment, validated by the config's own schema. */
function loadConfigFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  apiKeys: unknown,
  problems: ConfigProblem[],
): AuthServiceConfig | undefined {
  const variables = Object.fromEntries(CONFIG_VARIABLES.map((name) => [name, env[name]]));
  try {
    return loadAuthConfig(JSON.stringify({ api_keys: apiKeys }), {
      source: ENV_SOURCE,
      // JSON.parse, not the YAML parser, which reads variables of its own (LOG_TOKENS).
      format: "json",
      env: variables,
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) {
      problems.push({
        path: problem.path.replace(/^api_keys/, AUTH_API_KEYS_ENV),
        message: problem.message,
      });
    }
    return undefined;
  }
}

async function readSigningKey(
  value: string | undefined,
  report: (path: string, message: string) => void,
) {
  if (value === undefined || value.trim() === "") {
    report(
      AUTH_SIGNING_KEY_ENV,
      'Not set: give the token-signing key, base64 of its PKCS#8 DER ("p2proxy auth ' +
        'export-env -c Auth.yaml" prints it from the state dir).',
    );
    return undefined;
  }
  const pem = pemOfSigningKeyEnvValue(value);
  if (pem === undefined) {
    report(
      AUTH_SIGNING_KEY_ENV,
      `Neither base64 nor a PEM block (${value.length} characters): give what ` +
        '"p2proxy auth export-env" prints.',
    );
    return undefined;
  }
  try {
    return await signingKeyFromPem(pem, AUTH_SIGNING_KEY_ENV);
  } catch (error) {
    report(AUTH_SIGNING_KEY_ENV, describeError(error));
    return undefined;
  }
}

async function readPreviousKeys(
  value: string | undefined,
  report: (path: string, message: string) => void,
): Promise<VerificationKey[]> {
  const keys: VerificationKey[] = [];
  const texts = (value ?? "").split(/[,\s]+/).filter((text) => text !== "");
  for (const [index, text] of texts.entries()) {
    if (API_KEY_HASH_PATTERN.test(text) || text.startsWith("p2pk_")) {
      report(`${AUTH_PREVIOUS_KEYS_ENV}[${index}]`, "This is an API key or its hash, not a key.");
      continue;
    }
    try {
      keys.push(await verificationKeyFromText(text));
    } catch (error) {
      report(
        `${AUTH_PREVIOUS_KEYS_ENV}[${index}]`,
        `Not an Ed25519 public key (${describeError(error)}): give each retired key's public ` +
          "half in base64url, comma-separated.",
      );
    }
  }
  return keys;
}
