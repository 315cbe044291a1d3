/**
 * Reads a role's config file and the `P2PROXY_*` environment, and hands
 * both to the pure loader in core/config.
 *
 * @module
 */
import {
  ConfigError,
  type EnvBinding,
  EXIT_ENV,
  type ExitConfig,
  HUB_ENV,
  type HubConfig,
  loadExitConfig,
  loadHubConfig,
  loadProxyConfig,
  PROXY_ENV,
  type ProxyConfig,
} from "../core/config/mod.ts";

/** The roles that have a config file. */
export type ConfigRole = "proxy" | "exit" | "hub";

/** A loaded config with its role. */
export type RoleConfig =
  | { readonly role: "proxy"; readonly config: ProxyConfig }
  | { readonly role: "exit"; readonly config: ExitConfig }
  | { readonly role: "hub"; readonly config: HubConfig };

const ENV_OF: Readonly<Record<ConfigRole, readonly EnvBinding[]>> = {
  proxy: PROXY_ENV,
  exit: EXIT_ENV,
  hub: HUB_ENV,
};

/** The `P2PROXY_*` variables a role reads (read one by one: the env permission is narrow). */
export function readRoleEnv(role: ConfigRole): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const { variable } of ENV_OF[role]) {
    try {
      env[variable] = Deno.env.get(variable);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotCapable)) throw error;
    }
  }
  return env;
}

/** Reads the file at `path`, or throws a ConfigError "unreadable" naming it. */
export async function readConfigText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "the file does not exist"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new ConfigError("unreadable", path, [{
      path: "",
      message: `Cannot read the config: ${reason}.`,
    }]);
  }
}

/** Loads a config for a known role. Flag values (`overrides`) beat env, env beats the file. */
export async function loadRoleConfig(
  role: ConfigRole,
  path: string,
  overrides: Readonly<Record<string, unknown>> = {},
): Promise<RoleConfig> {
  const text = await readConfigText(path);
  const options = { source: path, env: readRoleEnv(role), overrides };
  switch (role) {
    case "proxy":
      return { role, config: loadProxyConfig(text, options) };
    case "exit":
      return { role, config: loadExitConfig(text, options) };
    case "hub":
      return { role, config: loadHubConfig(text, options) };
  }
}
