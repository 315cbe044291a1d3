/**
 * `p2proxy permissions <command> -c FILE`: the narrowest `deno run` line that
 * this command with this config needs (docs/plugins.md#permissions): the role's own needs merged
 * with what each chosen plugin declares.
 *
 * @module
 */
import { Argument, type Command } from "commander";
import { planPermissions } from "../../core/plugin/host.ts";
import {
  mergePermissions,
  type PermissionSet,
  renderPermissionFlags,
} from "../../core/plugin/permissions.ts";
import { authServePermissions, loadAuthConfigFile } from "./auth.ts";
import { planRole } from "../compose.ts";
import { type ConfigRole, loadRoleConfig } from "../config_file.ts";
import type { CliContext } from "../context.ts";
import { pluginSettingsOf } from "../plugin_settings.ts";
import { rolePermissions, YAML_ENV } from "../role_permissions.ts";

/** Adds the command. */
export function registerPermissions(program: Command, context: CliContext): void {
  program
    .command("permissions")
    .description("print the narrowest `deno run --allow-*` line a command needs with a config")
    .addArgument(
      new Argument("<command>", "the command to run").choices(["proxy", "exit", "hub", "auth"]),
    )
    .requiredOption("-c, --config <file>", "the config file the command will run with")
    .option("--flags-only", "print only the permission flags")
    .action(
      async (command: ConfigRole | "auth", options: { config: string; flagsOnly?: boolean }) => {
        const permissions = command === "auth"
          ? mergePermissions(
            authServePermissions(await loadAuthConfigFile(options.config), options.config),
            { env: YAML_ENV },
          )
          : await rolePermissionSet(context, command, options.config);
        const flags = ["--no-prompt", ...renderPermissionFlags(permissions)];
        if (options.flagsOnly) {
          console.log(flags.join(" "));
          return;
        }
        const run = command === "auth" ? ["auth", "serve"] : [command];
        console.log(
          ["deno", "run", ...flags, context.entry, ...run, "-c", options.config].join(" "),
        );
      },
    );
}

/** The role's own needs merged with those of every plugin it would load. */
async function rolePermissionSet(
  context: CliContext,
  role: ConfigRole,
  configPath: string,
): Promise<PermissionSet> {
  const loaded = await loadRoleConfig(role, configPath);
  const { plan } = await planRole(context, role, pluginSettingsOf(loaded));
  return mergePermissions(
    rolePermissions(loaded, configPath),
    planPermissions(plan, { stateDir: loaded.config.stateDir, role }),
  );
}
