/**
 * The auth service role, composed (docs/authentication.md): its signing key, API keys and
 * listeners from its config, on the clock the plugins provide.
 *
 * @module
 */
import type { AuthServiceConfig } from "../core/config/auth_config.ts";
import {
  startAuthServiceFromConfig,
  type StartedAuthService,
} from "../auth-service/service_runner.ts";
import { type ComposeOptions, composeRole, type RunningRole } from "./role.ts";

/** A running auth service. */
export interface AuthRole extends RunningRole {
  /** The auth role. */
  readonly role: "auth";
  /** The service and its listeners (`reload` applies a changed config). */
  readonly service: StartedAuthService;
  /** Where Connect and gRPC-web are served, e.g. `http://127.0.0.1:8443`. */
  readonly url: string;
  /** Where gRPC is served (`grpc_port`), when it is. */
  readonly grpcUrl: string | undefined;
  /** Applies a changed config; returns the keys that need a restart. */
  reload(config: AuthServiceConfig): Promise<string[]>;
}

/**
 * Starts the auth service from its config (the object `loadAuthConfig` makes of a config file).
 *
 * @example
 * ```ts
 * const auth = await startAuthService(loadAuthConfig("listen: 127.0.0.1:0"));
 * auth.url; // http://127.0.0.1:…
 * ```
 */
export function startAuthService(
  config: AuthServiceConfig,
  options: ComposeOptions = {},
): Promise<AuthRole> {
  return composeRole({ role: "auth", config }, options, async (composition) => {
    const clock = composition.get("clock");
    const service = await composition.startService("auth-service", async () => {
      const started = await startAuthServiceFromConfig(config, { now: () => clock.now() });
      return Object.assign(started, { stop: () => started.shutdown() });
    });
    return {
      role: "auth" as const,
      service,
      url: service.server.url,
      grpcUrl: service.server.grpcUrl,
      reload: (next: AuthServiceConfig) => service.reload(next),
    };
  });
}
