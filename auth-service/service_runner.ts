/**
 * Assembles the auth service from its config: loads (or creates) the
 * signing key, the retired keys and the TLS files, builds the API key table,
 * and starts the listeners. A reload swaps keys and settings without
 * dropping a connection.
 *
 * @module
 */
import { isAbsolute, join } from "node:path";
import type { AuthServiceConfig } from "../core/config/auth_config.ts";
import { describeError, P2proxyError } from "../core/errors.ts";
import { ApiKeyTable } from "./api_keys.ts";
import { type AuthServiceSettings, AuthTokenService } from "./auth_service.ts";
import { type RunningAuthServer, startAuthServer } from "./server.ts";
import { loadOrCreateSigningKey, loadVerificationKeyFile } from "./signing_key.ts";

/** A path of the config: relative paths are relative to `state_dir`. */
export function statePath(config: Pick<AuthServiceConfig, "stateDir">, path: string): string {
  return isAbsolute(path) ? join(path) : join(config.stateDir, path);
}

/** The service settings a config describes; creates the signing key on first run. */
export async function loadServiceSettings(
  config: AuthServiceConfig,
): Promise<AuthServiceSettings & { readonly createdSigningKey: boolean }> {
  const { key, created } = await loadOrCreateSigningKey(statePath(config, config.signingKey));
  const previousKeys = await Promise.all(
    config.previousSigningKeys.map((path) => loadVerificationKeyFile(statePath(config, path))),
  );
  return {
    networkId: config.networkId,
    issuer: config.issuer,
    tokenTtlMs: config.tokenTtlMs,
    signingKey: key,
    previousKeys,
    apiKeys: new ApiKeyTable(config.apiKeys),
    createdSigningKey: created,
  };
}

/** The PEM contents of the config's TLS files, or undefined without `tls`. */
export async function readTlsFiles(
  config: AuthServiceConfig,
): Promise<{ cert: string; key: string } | undefined> {
  if (config.tls === undefined) return undefined;
  const read = async (path: string, what: string) => {
    const resolved = statePath(config, path);
    try {
      return await Deno.readTextFile(resolved);
    } catch (error) {
      throw new P2proxyError(
        "unreadable",
        `Cannot read the TLS ${what} "${resolved}" (${describeError(error)}): fix \`tls.${
          what === "certificate" ? "cert" : "key"
        }\` (relative paths are relative to state_dir).`,
        { cause: error },
      );
    }
  };
  return {
    cert: await read(config.tls.certFile, "certificate"),
    key: await read(config.tls.keyFile, "key"),
  };
}

/** A running auth service. */
export interface StartedAuthService {
  readonly service: AuthTokenService;
  readonly server: RunningAuthServer;
  /** Whether the signing key was created by this start. */
  readonly createdSigningKey: boolean;
  /**
   * Applies a changed config: API keys, token settings and keys take effect
   * at once; listener changes (`listen`, `grpc_port`, `tls`) need a restart
   * and are returned as the keys that differ.
   */
  reload(config: AuthServiceConfig): Promise<string[]>;
  shutdown(): Promise<void>;
}

/** Starts the auth service a config describes. */
export async function startAuthServiceFromConfig(
  config: AuthServiceConfig,
  options: { now?: () => number } = {},
): Promise<StartedAuthService> {
  const settings = await loadServiceSettings(config);
  const service = new AuthTokenService(settings, options);
  const server = await startAuthServer({
    service,
    hostname: config.listen.hostname,
    port: config.listen.port,
    ...(config.grpcPort === undefined ? {} : { grpcPort: config.grpcPort }),
    ...await tlsOption(config),
  });
  let current = config;
  return {
    service,
    server,
    createdSigningKey: settings.createdSigningKey,
    async reload(next) {
      service.update(await loadServiceSettings(next));
      const changed = listenerChanges(current, next);
      current = next;
      return changed;
    },
    shutdown: () => server.shutdown(),
  };
}

async function tlsOption(config: AuthServiceConfig) {
  const tls = await readTlsFiles(config);
  return tls === undefined ? {} : { tls };
}

function listenerChanges(before: AuthServiceConfig, after: AuthServiceConfig): string[] {
  const changed: string[] = [];
  if (JSON.stringify(before.listen) !== JSON.stringify(after.listen)) changed.push("listen");
  if (before.grpcPort !== after.grpcPort) changed.push("grpc_port");
  if (JSON.stringify(before.tls) !== JSON.stringify(after.tls)) changed.push("tls");
  return changed;
}
