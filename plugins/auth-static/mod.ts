/**
 * `@p2proxy/auth-static`: a pre-shared token from the plugin options or the
 * `P2PROXY_TOKEN` environment variable (options win), for small networks.
 *
 * Options: `token` (optional). Permissions: env `P2PROXY_TOKEN` when the
 * options carry no token; nothing otherwise.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { z } from "zod";
import { describeError } from "../../core/errors.ts";
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import { StaticAuthenticator, TOKEN_ENV_VAR } from "./static_authenticator.ts";

export { StaticAuthenticator, TOKEN_ENV_VAR } from "./static_authenticator.ts";

const logger = getLogger(["p2proxy", "auth-static"]);

/** Options of `@p2proxy/auth-static`. */
export const AuthStaticOptions = z.object({
  /** The pre-shared token; when absent, `P2PROXY_TOKEN` is read instead. */
  token: z.string().min(1).optional(),
}).strict();

/** The token from the environment, trimmed; undefined when unset, empty or not readable. */
function tokenFromEnv(): string | undefined {
  try {
    const value = Deno.env.get(TOKEN_ENV_VAR)?.trim();
    return value === "" ? undefined : value;
  } catch (error) {
    logger.warn("Could not read {variable} ({error}); grant --allow-env={variable}.", {
      variable: TOKEN_ENV_VAR,
      error: describeError(error),
    });
    return undefined;
  }
}

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/auth-static",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "A pre-shared token from the plugin options or P2PROXY_TOKEN.",
  provides: ["authenticator"],
  options: AuthStaticOptions,
  // `auth.token` of a proxy's or an exit's config (a hub only verifies tokens).
  configure: (settings) =>
    (settings.role === "proxy" || settings.role === "exit") && settings.config.auth?.token
      ? { token: settings.config.auth.token }
      : undefined,
  permissions: (options) => (options.token === undefined ? { env: [TOKEN_ENV_VAR] } : {}),
  create: (options) => {
    const authenticator = new StaticAuthenticator(options.token ?? tokenFromEnv());
    if (!authenticator.hasToken) {
      logger.warn(
        'No pre-shared token: set "token" in the options of @p2proxy/auth-static or {variable}. ' +
          "Every request for a token will fail until then.",
        { variable: TOKEN_ENV_VAR },
      );
    }
    return { provides: { authenticator } };
  },
});

export default plugin;
