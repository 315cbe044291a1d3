/**
 * Reads the `p2proxy.plugins` list of a deno.json. Kept apart from the
 * loader so that scripts/generate_registry.ts can read the list without
 * importing the built-in plugins (and libp2p, whose logger enumerates the
 * whole environment at import: the `registry` task has no env permission).
 *
 * @module
 */
import { PluginError } from "../core/plugin/contract.ts";

/** The `p2proxy.plugins` list of a deno.json, or undefined when the file or key is absent. */
export async function readPluginList(configPath: string): Promise<string[] | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(configPath);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new PluginError(
      "load-failed",
      `Cannot parse "${configPath}" as JSON: ${error}.`,
      undefined,
    );
  }
  const list = (parsed as { p2proxy?: { plugins?: unknown } })?.p2proxy?.plugins;
  if (list === undefined) return undefined;
  if (!Array.isArray(list) || !list.every((s) => typeof s === "string" && s.length > 0)) {
    throw new PluginError(
      "load-failed",
      `"p2proxy.plugins" in "${configPath}" must be a list of module specifiers (paths, npm:, jsr:, builtin:<name>).`,
    );
  }
  return list;
}
