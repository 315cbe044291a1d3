/**
 * What every command gets from the entry point.
 *
 * @module
 */
import type { StaticPluginModules } from "./plugin_loader.ts";

/** Shared state of one CLI run. */
export interface CliContext {
  /** Folder whose deno.json lists the plugins (the current directory). */
  readonly cwd: string;
  /** Plugin modules a generated entry point imported statically. */
  readonly staticModules: StaticPluginModules;
  /** The module specifier that starts this CLI, for printed `deno run` lines. */
  readonly entry: string;
}
