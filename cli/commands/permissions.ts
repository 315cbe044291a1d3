/**
 * `p2proxy permissions <command> -c FILE`: the narrowest `deno run` line that
 * this command with this config needs (SPEC §11): the role's own needs merged
 * with what each chosen plugin declares.
 *
 * @module
 */
import { Argument, type Command } from "commander";
import { planPermissions } from "../../core/plugin/host.ts";
import { mergePermissions, renderPermissionFlags } from "../../core/plugin/permissions.ts";
import { planRole } from "../compose.ts";
import { type ConfigRole, loadRoleConfig } from "../config_file.ts";
import type { CliContext } from "../context.ts";
import { pluginSettingsOf } from "../plugin_settings.ts";
import { rolePermissions } from "../role_permissions.ts";

/** Adds the command. */
export function registerPermissions(program: Command, context: CliContext): void {
  program
    .command("permissions")
    .description("print the narrowest `deno run --allow-*` line a command needs with a config")
    .addArgument(new Argument("<command>", "the command to run").choices(["proxy", "exit", "hub"]))
    .requiredOption("-c, --config <file>", "the config file the command will run with")
    .option("--flags-only", "print only the permission flags")
    .action(async (command: ConfigRole, options: { config: string; flagsOnly?: boolean }) => {
      const loaded = await loadRoleConfig(command, options.config);
      const { plan } = await planRole(context, command, pluginSettingsOf(loaded));
      const permissions = mergePermissions(
        rolePermissions(loaded, options.config),
        planPermissions(plan, { stateDir: loaded.config.stateDir, role: command }),
      );
      const flags = ["--no-prompt", ...renderPermissionFlags(permissions)];
      if (options.flagsOnly) {
        console.log(flags.join(" "));
        return;
      }
      console.log(
        ["deno", "run", ...flags, context.entry, command, "-c", options.config].join(" "),
      );
    });
}
