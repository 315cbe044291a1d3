/**
 * The composition root's first step, shared by every role and every command that builds
 * ports: plan a role's capabilities from its config and a plugin list, creating nothing. Each
 * chosen plugin maps the config keys it reads itself (its `configure` hook); the config's
 * `providers` choose between plugins and its `plugins` section overrides their options.
 *
 * @module
 */
import type { CapabilityName, PluginDefinition, RoleSettings } from "../core/plugin/contract.ts";
import { type CompositionPlan, planComposition } from "../core/plugin/host.ts";
import {
  BUILTIN_DEFAULT_PROVIDERS,
  BUILTIN_PLUGINS,
  builtinByShortName,
} from "../plugins/builtin.ts";
import { capabilitiesOf } from "./roles.ts";

/** The plugins a role is composed from. */
export interface PluginList {
  /** Every loaded plugin. */
  readonly plugins: readonly PluginDefinition[];
  /** True for the built-in list: then built-in default providers settle ties. */
  readonly builtin: boolean;
}

/** The built-in plugins, with their default providers. */
export const BUILTIN_PLUGIN_LIST: PluginList = { plugins: BUILTIN_PLUGINS, builtin: true };

/** A command that runs no role (`p2proxy id`): it has no config, only what it wants. */
export interface ToolSettings {
  /** The tool role. */
  readonly role: "tool";
}

/** Extra inputs of {@link planRole}. */
export interface PlanOptions {
  /** Capabilities wanted beyond the role's own (`p2proxy id` wants `identity`). */
  readonly wants?: readonly CapabilityName[];
  /** Capabilities the caller supplies itself: no plugin is chosen for them. */
  readonly given?: readonly CapabilityName[];
}

/** `auth.provider` short names → the built-in plugins that implement them. */
const AUTH_PROVIDER_PLUGINS: Readonly<Record<string, string>> = {
  connect: "@p2proxy/auth-connect",
  static: "@p2proxy/auth-static",
};

/**
 * Validates the plugin set of a role with this config, creating nothing: every refusal of
 * docs/plugins.md#choosing-providers is thrown here, before anything starts.
 *
 * @example
 * ```ts
 * const plan = planRole({ role: "proxy", config: loadProxyConfig(text) });
 * plan.providers.get("sticky-store"); // "@p2proxy/sticky-file"
 * ```
 */
export function planRole(
  settings: RoleSettings | ToolSettings,
  list: PluginList = BUILTIN_PLUGIN_LIST,
  options: PlanOptions = {},
): CompositionPlan {
  const { needs, wants, optIn = [] } = capabilitiesOf(settings.role);
  const config = settings.role === "tool" ? {} : settings.config as PluginChoices;
  const choices = expandShortNames(config.providers ?? {});
  const extraWants = [
    ...(options.wants ?? []),
    ...optIn.filter((capability) => optedIn(capability, choices, config, list)),
  ];
  // A proxy or an exit presents a token of its own; a hub only verifies them.
  if (config.auth && (settings.role === "proxy" || settings.role === "exit")) {
    choices["authenticator"] ??= AUTH_PROVIDER_PLUGINS[config.auth.provider] ??
      config.auth.provider;
    extraWants.push("authenticator");
  }
  return planComposition({
    plugins: list.plugins,
    needs,
    wants: [...wants, ...extraWants],
    choices,
    ...(list.builtin ? { defaults: BUILTIN_DEFAULT_PROVIDERS } : {}),
    options: config.plugins ?? {},
    ...(settings.role === "tool" ? {} : { settings }),
    ...(options.given ? { given: options.given } : {}),
  });
}

/**
 * Whether the config asks for an opt-in capability: it chooses a provider for it, or gives
 * options to a loaded plugin that provides it.
 */
function optedIn(
  capability: CapabilityName,
  choices: Readonly<Record<string, string>>,
  config: PluginChoices,
  list: PluginList,
): boolean {
  if (choices[capability] !== undefined) return true;
  const configured = new Set(Object.keys(config.plugins ?? {}));
  return list.plugins.some((plugin) =>
    configured.has(plugin.name) && plugin.provides.includes(capability)
  );
}

/** The keys of a role's config that choose and configure plugins. */
interface PluginChoices {
  readonly providers?: Readonly<Record<string, string>>;
  readonly plugins?: Readonly<Record<string, unknown>>;
  readonly auth?: { readonly provider: string };
}

/** Lets the config say `sticky-store: sticky-kv` for a built-in. */
function expandShortNames(providers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(providers).map(([capability, name]) => [
      capability,
      !name.includes("/") && builtinByShortName(name) ? `@p2proxy/${name}` : name,
    ]),
  );
}
