/**
 * Loads the plugin list: `p2proxy.plugins` from the deno.json of the current
 * folder (local paths, `npm:`/`jsr:` specifiers, or `builtin:<name>`), or the
 * built-in plugins when there is no such list (docs/plugins.md#loading).
 *
 * @module
 */
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { type PluginDefinition, PluginError } from "../core/plugin/contract.ts";
import { BUILTIN_PLUGINS, builtinByShortName } from "../plugins/builtin.ts";
import { readPluginList } from "./plugin_list.ts";

export { readPluginList };

/** The plugins to compose and where the list came from. */
export interface LoadedPlugins {
  readonly plugins: readonly PluginDefinition[];
  /** `builtin`, or the path of the deno.json that listed them. */
  readonly source: string;
  /** True when the list is the built-in one (built-in default providers apply). */
  readonly builtin: boolean;
}

/** Modules imported statically by a generated entry point (bundle, compile), by specifier. */
export type StaticPluginModules = Readonly<Record<string, unknown>>;

/** Reads `<dir>/deno.json` and loads the plugins it lists. */
export async function loadPlugins(
  dir: string,
  staticModules: StaticPluginModules = {},
): Promise<LoadedPlugins> {
  const configPath = join(dir, "deno.json");
  const specifiers = await readPluginList(configPath);
  if (specifiers === undefined) {
    return { plugins: BUILTIN_PLUGINS, source: "builtin", builtin: true };
  }
  const plugins: PluginDefinition[] = [];
  for (const specifier of specifiers) {
    plugins.push(...await loadOne(specifier, dir, staticModules));
  }
  return { plugins, source: configPath, builtin: false };
}

/** Resolves a specifier from the plugin list relative to the folder of its deno.json. */
export function resolvePluginSpecifier(specifier: string, dir: string): string {
  if (specifier.startsWith("./") || specifier.startsWith("../")) {
    return pathToFileURL(join(Deno.realPathSync(dir), specifier)).href;
  }
  if (specifier.startsWith("/")) return pathToFileURL(specifier).href;
  return specifier;
}

async function loadOne(
  specifier: string,
  dir: string,
  staticModules: StaticPluginModules,
): Promise<PluginDefinition[]> {
  if (specifier.startsWith("builtin:")) {
    const plugin = builtinByShortName(specifier.slice("builtin:".length));
    if (plugin) return [plugin];
    throw new PluginError(
      "load-failed",
      `There is no built-in plugin "${specifier}". Built-ins: ${
        BUILTIN_PLUGINS.map((p) => `builtin:${p.name.replace("@p2proxy/", "")}`).join(", ")
      }.`,
      specifier,
    );
  }
  let module: unknown = staticModules[specifier];
  if (module === undefined) {
    try {
      // The user's plugin list is known only at run time, so this import cannot be static.
      // Publishing cannot rewrite it, and needs not: the specifier is already absolute
      // (file URL, npm:, jsr:). Bundles and compiled binaries get static imports instead.
      // publish-check-ignore unanalyzable-dynamic-import -- the plugin list is run-time input
      module = await import(resolvePluginSpecifier(specifier, dir));
    } catch (error) {
      throw new PluginError(
        "load-failed",
        `Cannot load plugin module "${specifier}": ${
          error instanceof Error ? error.message : error
        }`,
        specifier,
        { cause: error },
      );
    }
  }
  return pluginsOfModule(module, specifier);
}

function pluginsOfModule(module: unknown, specifier: string): PluginDefinition[] {
  const exports = module as { plugin?: unknown; plugins?: unknown; default?: unknown };
  const found = exports.plugins ?? exports.plugin ?? exports.default;
  if (Array.isArray(found)) return found as PluginDefinition[];
  if (found && typeof found === "object") return [found as PluginDefinition];
  throw new PluginError(
    "load-failed",
    `Module "${specifier}" exports no plugin. Export \`plugin\` (from definePlugin) or a default.`,
    specifier,
  );
}
