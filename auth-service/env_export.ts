/**
 * The other direction of `env_settings.ts`: the environment variables that make the auth handler
 * issue the same tokens as `auth serve` with a given `Auth.yaml` and state dir
 * (`p2proxy auth export-env`).
 *
 * @module
 */
import { base64url } from "jose";
import type { AuthServiceConfig } from "../core/config/auth_config.ts";
import { describeError, P2proxyError } from "../core/errors.ts";
import { signingKeyFromPem } from "../auth/keys.ts";
import {
  AUTH_API_KEYS_ENV,
  AUTH_PREVIOUS_KEYS_ENV,
  AUTH_SIGNING_KEY_ENV,
  pemOfSigningKeyEnvValue,
  signingKeyEnvValue,
} from "./env_settings.ts";
import { statePath } from "./service_runner.ts";
import { loadOrCreateSigningKey, loadVerificationKeyFile } from "./signing_key.ts";

/** The variables, and what producing them did. */
export interface AuthEnvExport {
  /** Variable → value, in the order an env file lists them. */
  readonly values: Readonly<Record<string, string>>;
  /** The signing key file the values carry. */
  readonly signingKeyPath: string;
  /** True when the signing key did not exist and was created (as `auth serve` would). */
  readonly createdSigningKey: boolean;
}

/**
 * The auth handler's environment for `config`: its signing key (created in the state dir when
 * absent, as `auth serve` does on its first run), the public halves of its previous keys, its API
 * keys' hashes, network id, issuer, token lifetime and log level.
 *
 * @example
 * ```ts
 * const { values } = await authEnvValues(loadAuthConfig(await Deno.readTextFile("Auth.yaml"), {
 *   source: "Auth.yaml",
 * }));
 * values.P2PROXY_AUTH_SIGNING_KEY; // "MC4CAQAwBQYDK2VwBCIEI…"
 * ```
 */
export async function authEnvValues(config: AuthServiceConfig): Promise<AuthEnvExport> {
  const signingKeyPath = statePath(config, config.signingKey);
  const { key, created } = await loadOrCreateSigningKey(signingKeyPath);
  const signingKey = signingKeyEnvValue(await Deno.readTextFile(signingKeyPath));
  await checkRoundTrip(signingKey, key.kid, signingKeyPath);
  const previous = await Promise.all(
    config.previousSigningKeys.map((path) => loadVerificationKeyFile(statePath(config, path))),
  );
  const apiKeys = config.apiKeys.map(({ name, hash, role }) => ({ name, hash, role }));
  return {
    values: {
      [AUTH_SIGNING_KEY_ENV]: signingKey,
      [AUTH_API_KEYS_ENV]: JSON.stringify(apiKeys),
      ...(previous.length === 0
        ? {}
        : { [AUTH_PREVIOUS_KEYS_ENV]: previous.map((k) => base64url.encode(k.raw)).join(",") }),
      P2PROXY_NETWORK_ID: config.networkId,
      P2PROXY_ISSUER: config.issuer,
      P2PROXY_TOKEN_TTL_SECS: `${config.tokenTtlMs / 1000}`,
      P2PROXY_LOG_LEVEL: config.logLevel,
    },
    signingKeyPath,
    createdSigningKey: created,
  };
}

/** The one-line value must load as the same key: refuse to print one the handler would refuse. */
async function checkRoundTrip(value: string, kid: string, path: string): Promise<void> {
  let loaded: string | undefined;
  try {
    const pem = pemOfSigningKeyEnvValue(value);
    loaded = pem === undefined ? undefined : (await signingKeyFromPem(pem, path)).kid;
  } catch (error) {
    loaded = describeError(error);
  }
  if (loaded === kid) return;
  throw new P2proxyError(
    "corrupt",
    `The signing key "${path}" does not survive its one-line form (${loaded ?? "not base64"}): ` +
      "it must be a PKCS#8 PEM holding one key, as p2proxy writes it.",
  );
}
