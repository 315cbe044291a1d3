/**
 * The composition root's first step, shared by every command that builds
 * ports: load the plugin list, plan the role's capabilities against the
 * config's choices and options, create the plugins.
 *
 * @module
 */
import type { PermissionContext, Role } from "../core/plugin/contract.ts";
import { Composition, type CompositionPlan, planComposition } from "../core/plugin/host.ts";
import { BUILTIN_DEFAULT_PROVIDERS, builtinByShortName } from "../plugins/builtin.ts";
import type { CliContext } from "./context.ts";
import { type LoadedPlugins, loadPlugins } from "./plugin_loader.ts";
import { capabilitiesOf } from "./roles.ts";

/** The plugin part of any role's config. */
export interface PluginSettings {
  /** Config `providers`: capability → plugin name (or a built-in short name). */
  readonly providers?: Readonly<Record<string, string>>;
  /** Config `plugins`: plugin name → options. */
  readonly plugins?: Readonly<Record<string, unknown>>;
  /**
   * Options that top-level config keys imply for built-in plugins, applied
   * only when that plugin is loaded; explicit `plugins` options win.
   */
  readonly derivedOptions?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Capabilities wanted beyond the role's own (e.g. `authenticator` when auth is on). */
  readonly extraWants?: readonly string[];
}

/** Loads plugins and validates the plan for a role, creating nothing. */
export async function planRole(
  context: CliContext,
  role: Role,
  settings: PluginSettings,
): Promise<{ loaded: LoadedPlugins; plan: CompositionPlan }> {
  const loaded = await loadPlugins(context.cwd, context.staticModules);
  const { needs, wants } = capabilitiesOf(role);
  const plan = planComposition({
    plugins: loaded.plugins,
    needs,
    wants: [...wants, ...(settings.extraWants ?? [])] as typeof wants,
    choices: expandShortNames(settings.providers ?? {}),
    ...(loaded.builtin ? { defaults: BUILTIN_DEFAULT_PROVIDERS } : {}),
    options: mergeDerivedOptions(loaded, settings),
  });
  return { loaded, plan };
}

/** Plans, then creates the plugins of a role (not started). */
export async function composeRole(
  context: CliContext,
  role: Role,
  settings: PluginSettings,
  permissionContext: PermissionContext,
): Promise<Composition> {
  const { plan } = await planRole(context, role, settings);
  return await Composition.create(plan, permissionContext);
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

function mergeDerivedOptions(
  loaded: LoadedPlugins,
  settings: PluginSettings,
): Record<string, unknown> {
  const options: Record<string, unknown> = { ...settings.plugins };
  for (const [name, derived] of Object.entries(settings.derivedOptions ?? {})) {
    if (!loaded.plugins.some((p) => p.name === name)) continue;
    options[name] = {
      ...derived,
      ...(settings.plugins?.[name] as Record<string, unknown> | undefined),
    };
  }
  return options;
}
