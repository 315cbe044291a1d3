/**
 * `p2proxy plugins`: the plugins loaded from deno.json (or the built-ins),
 * what each provides and needs.
 *
 * @module
 */
import type { Command } from "commander";
import { BUILTIN_DEFAULT_PROVIDERS } from "../../plugins/builtin.ts";
import type { CliContext } from "../context.ts";
import { loadPlugins } from "../plugin_loader.ts";

/** Adds the command. */
export function registerPlugins(program: Command, context: CliContext): void {
  program
    .command("plugins")
    .description(
      "list the plugins loaded from deno.json (or the built-ins): what each provides and needs",
    )
    .option("--json", "print JSON instead of a table")
    .action(async (options: { json?: boolean }) => {
      const loaded = await loadPlugins(context.cwd, context.staticModules);
      const rows = loaded.plugins.map((p) => ({
        name: p.name,
        version: p.version,
        api: p.api,
        provides: [...p.provides],
        requires: [...(p.requires ?? [])],
        description: p.description,
        default_for: loaded.builtin
          ? Object.entries(BUILTIN_DEFAULT_PROVIDERS).filter(([, n]) => n === p.name).map(([c]) =>
            c
          )
          : [],
      }));
      if (options.json) {
        console.log(JSON.stringify({ source: loaded.source, plugins: rows }, null, 2));
        return;
      }
      console.log(`plugins from: ${loaded.source}`);
      for (const row of rows) {
        const defaults = row.default_for.length > 0
          ? ` (default for ${row.default_for.join(", ")})`
          : "";
        console.log(`\n${row.name} ${row.version} (plugin API ${row.api})${defaults}`);
        console.log(`  ${row.description}`);
        console.log(`  provides: ${row.provides.join(", ")}`);
        console.log(`  requires: ${row.requires.length > 0 ? row.requires.join(", ") : "nothing"}`);
      }
    });
}
