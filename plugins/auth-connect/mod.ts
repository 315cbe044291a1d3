/**
 * `@p2proxy/auth-connect`: tokens from `p2proxy.auth.v1.AuthService`
 * (docs/authentication.md) over the Connect protocol (default), gRPC-web or gRPC, refreshed
 * before they expire.
 *
 * Options (strict):
 * - `url` (required): the service's base URL, e.g. `http://127.0.0.1:8443`
 *   (for `transport: grpc`, its `grpc_port`);
 * - `transport`: `connect` (default) | `grpc-web` | `grpc`;
 * - `api_key`: the API key; when absent, `P2PROXY_API_KEY` is read;
 * - `role`: `proxy` | `exit`; default: the role being run;
 * - `refresh_at`: fraction of the lifetime after which the token is refreshed (0.8);
 * - `timeout_secs`: deadline of one call (10);
 * - `ca_cert`: a PEM file of a CA to trust besides the system's (a private
 *   CA or a self-signed service).
 *
 * Permissions: net to the URL's host and port; env `P2PROXY_API_KEY` when
 * the options carry no key; read of `ca_cert` when set.
 *
 * @module
 */
import { z } from "zod";
import { describeError } from "../../core/errors.ts";
import {
  definePlugin,
  PLUGIN_API_VERSION,
  type Role,
  type RoleSettings,
} from "../../core/plugin/contract.ts";
import { AuthError } from "../../core/ports/authenticator.ts";
import { AUTH_TRANSPORTS } from "../../auth/client.ts";
import { DEFAULT_REFRESH_AT, DEFAULT_RPC_TIMEOUT_MS } from "../../auth/constants.ts";
import { TOKEN_ROLES, type TokenRole } from "../../auth/token.ts";
import { ConnectAuthenticator } from "./connect_authenticator.ts";

export { ConnectAuthenticator, type ConnectAuthenticatorOptions } from "./connect_authenticator.ts";

/** The environment variable the API key may come from. */
export const API_KEY_ENV_VAR = "P2PROXY_API_KEY";

/** Earliest and latest refresh points: refreshing at once would loop; at the very end, too late. */
const MIN_REFRESH_AT = 0.1;
const MAX_REFRESH_AT = 0.95;

/** Longest call deadline: a minute, beyond which a hung service should count as down. */
const MAX_TIMEOUT_SECS = 60;

/** Options of `@p2proxy/auth-connect`. */
export const AuthConnectOptions = z.object({
  /** Base URL of the auth service. */
  url: z.url({
    protocol: /^https?$/,
    error: 'Give the auth service\'s base URL, such as "http://127.0.0.1:8443" (`auth.url`).',
  }),
  transport: z.enum(AUTH_TRANSPORTS).default("connect"),
  /** The API key; when absent, P2PROXY_API_KEY is read. */
  api_key: z.string().trim().min(1).optional(),
  /** The token's role; default: the role being run. */
  role: z.enum(TOKEN_ROLES).optional(),
  refresh_at: z.number().min(MIN_REFRESH_AT).max(MAX_REFRESH_AT).default(DEFAULT_REFRESH_AT),
  timeout_secs: z.number().positive().max(MAX_TIMEOUT_SECS).default(
    DEFAULT_RPC_TIMEOUT_MS / 1000,
  ),
  /** A PEM CA certificate file to trust besides the system's. */
  ca_cert: z.string().min(1).optional(),
}).strict();

/** Parsed options of `@p2proxy/auth-connect`. */
export type AuthConnectOptions = z.output<typeof AuthConnectOptions>;

/** `host:port` of a URL as Deno's net permission spells it (default ports made explicit). */
export function netGrantOf(url: string): string {
  const parsed = new URL(url);
  const port = parsed.port !== "" ? parsed.port : parsed.protocol === "https:" ? "443" : "80";
  return `${parsed.hostname}:${port}`;
}

/** The API key and where it came from: the options first, then the environment. */
function resolveApiKey(options: AuthConnectOptions): { apiKey: string; source: string } {
  if (options.api_key !== undefined) {
    return { apiKey: options.api_key, source: "the config (`api_key`)" };
  }
  let fromEnv: string | undefined;
  try {
    fromEnv = Deno.env.get(API_KEY_ENV_VAR)?.trim();
  } catch (error) {
    throw new AuthError(
      "rejected",
      `No API key in the config, and ${API_KEY_ENV_VAR} cannot be read (${
        describeError(error)
      }): set \`api_key\`, or grant --allow-env=${API_KEY_ENV_VAR}.`,
    );
  }
  if (fromEnv) return { apiKey: fromEnv, source: `the environment variable ${API_KEY_ENV_VAR}` };
  throw new AuthError(
    "rejected",
    `No API key for the auth service: set \`api_key\` in the config or the ${API_KEY_ENV_VAR} ` +
      'environment variable (an operator creates keys with "p2proxy auth add-key").',
  );
}

function resolveRole(options: AuthConnectOptions, role: Role): TokenRole {
  if (options.role !== undefined) return options.role;
  if (role === "proxy" || role === "exit") return role;
  throw new AuthError(
    "rejected",
    `The ${role} role has no token role of its own: set \`role\` (proxy or exit) in the options ` +
      "of @p2proxy/auth-connect.",
  );
}

async function readCaCert(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new AuthError(
      "rejected",
      `Cannot read the CA certificate "${path}" (${describeError(error)}): fix \`ca_cert\`.`,
    );
  }
}

/**
 * The options a proxy's or an exit's `auth` section implies (a hub only verifies tokens): the
 * service's URL and transport, the token's role, the timings, the CA, and `api_key` when it came
 * from the config file.
 */
function configureFromRole(settings: RoleSettings): Record<string, unknown> | undefined {
  if (settings.role !== "proxy" && settings.role !== "exit") return undefined;
  const { auth, apiKey } = settings.config;
  if (!auth) return undefined;
  return {
    ...(auth.url ? { url: auth.url } : {}),
    transport: auth.transport,
    role: settings.role,
    ...(apiKeyFromConfigFile(apiKey) ? { api_key: apiKey } : {}),
    ...(auth.refreshAt === undefined ? {} : { refresh_at: auth.refreshAt }),
    ...(auth.timeoutSecs === undefined ? {} : { timeout_secs: auth.timeoutSecs }),
    ...(auth.caCert ? { ca_cert: auth.caCert } : {}),
  };
}

/**
 * Whether `api_key` should reach the plugin as an option. A key set through
 * P2PROXY_API_KEY also lands in the loaded config (env beats file); passing it
 * on would make the plugin's messages blame `api_key` in the config for a bad
 * key that came from the environment. Left out, the plugin reads the same
 * variable itself and names it.
 */
function apiKeyFromConfigFile(apiKey: string | undefined): apiKey is string {
  if (!apiKey) return false;
  try {
    return Deno.env.get(API_KEY_ENV_VAR)?.trim() !== apiKey.trim();
  } catch {
    // Not allowed to read the variable: then the key cannot have come from it.
    return true;
  }
}

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/auth-connect",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "Tokens from the p2proxy auth service (Connect, gRPC-web or gRPC), kept fresh.",
  provides: ["authenticator"],
  requires: ["identity", "clock"],
  options: AuthConnectOptions,
  configure: configureFromRole,
  permissions: (options) => ({
    net: [netGrantOf(options.url)],
    ...(options.api_key === undefined ? { env: [API_KEY_ENV_VAR] } : {}),
    ...(options.ca_cert === undefined ? {} : { read: [options.ca_cert] }),
  }),
  create: async (options, ctx) => {
    const { apiKey, source } = resolveApiKey(options);
    const authenticator = new ConnectAuthenticator({
      url: options.url,
      transport: options.transport,
      apiKey,
      apiKeySource: source,
      role: resolveRole(options, ctx.role),
      refreshAt: options.refresh_at,
      timeoutMs: options.timeout_secs * 1000,
      ...(options.ca_cert === undefined ? {} : { caCert: await readCaCert(options.ca_cert) }),
      identity: ctx.get("identity"),
      clock: ctx.get("clock"),
    });
    return {
      provides: { authenticator },
      start: () => authenticator.start(),
      stop: () => authenticator.stop(),
    };
  },
});

export default plugin;
