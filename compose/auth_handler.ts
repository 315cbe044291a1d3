/**
 * The auth service as a fetch handler, composed from environment variables
 * (docs/authentication.md#serverless): no files, no port of its own. The `./auth-handler` export
 * wraps it for `deno serve` and serverless Deno platforms.
 *
 * It plans its plugins like every role (the auth role needs a `clock`), but from a short list of
 * its own — `@p2proxy/clock-system` unless the caller gives one — so that a cold start loads
 * neither libp2p nor any other plugin it does not use.
 *
 * @module
 */
import type { PluginDefinition } from "../core/plugin/contract.ts";
import { Composition, planComposition } from "../core/plugin/host.ts";
import { plugin as clockSystem } from "../plugins/clock-system/mod.ts";
import { AuthTokenService } from "../auth-service/auth_service.ts";
import { type AuthEnvSettings, authSettingsFromEnv } from "../auth-service/env_settings.ts";
import { type AuthFetchHandler, authFetchHandler } from "../auth-service/fetch_handler.ts";
import { capabilitiesOf } from "./roles.ts";

/** What {@link createAuthHandler} builds from. */
export interface AuthHandlerOptions {
  /** The environment: `AUTH_HANDLER_ENV`'s variables by name (missing ones undefined). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The plugins to compose from (default: `@p2proxy/clock-system`). */
  readonly plugins?: readonly PluginDefinition[];
}

/** The composed auth service, ready to answer requests. */
export interface AuthHandler {
  /** Answers one request: Connect, gRPC-web, `GET /healthz`. */
  readonly fetch: AuthFetchHandler;
  /** The token service behind it. */
  readonly service: AuthTokenService;
  /** What the environment said, defaults applied. */
  readonly config: AuthEnvSettings["config"];
  /** Stops the plugins (a platform that never stops an instance never calls it). */
  stop(): Promise<void>;
}

/**
 * Composes the auth service from environment variables. Throws a `ConfigError` listing every
 * variable that is missing or wrong, or a `PluginError` for a plugin list without a clock.
 *
 * @example
 * ```ts
 * const auth = await createAuthHandler({ env: Deno.env.toObject() });
 * Deno.serve({ hostname: "127.0.0.1", port: 8443 }, auth.fetch);
 * ```
 */
export async function createAuthHandler(options: AuthHandlerOptions): Promise<AuthHandler> {
  const { config, settings } = await authSettingsFromEnv(options.env);
  const plan = planComposition({
    plugins: options.plugins ?? [clockSystem as unknown as PluginDefinition],
    needs: capabilitiesOf("auth").needs,
    wants: capabilitiesOf("auth").wants,
    settings: { role: "auth", config },
  });
  const composition = await Composition.create(plan, { stateDir: ".", role: "auth" });
  await composition.start();
  const clock = composition.get("clock");
  const service = new AuthTokenService(settings, { now: () => clock.now() });
  return {
    fetch: authFetchHandler(service),
    service,
    config,
    stop: async () => void await composition.stop(),
  };
}
