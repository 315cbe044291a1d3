/**
 * `p2proxy check -c FILE`: validates a config file (and the plugin options
 * and choices it makes) and prints every problem at once; exit code 2 when
 * there is one.
 *
 * @module
 */
import { type Command, Option } from "commander";
import { formatProblems } from "../../core/config/mod.ts";
import { type ConfigRole, guessRole, loadRoleConfig, readConfigText } from "../config_file.ts";
import type { CliContext } from "../context.ts";
import { CliExit, EXIT_BAD_USAGE } from "../exit_codes.ts";
import { planRole } from "../compose.ts";
import { pluginSettingsOf } from "../plugin_settings.ts";
import { loadAuthConfigFile } from "./auth.ts";
import { adminTokenWarning } from "../../runtime/admin_api.ts";

/** Adds the command. */
export function registerCheck(program: Command, context: CliContext): void {
  program
    .command("check")
    .description("validate a config file and print every problem")
    .requiredOption("-c, --config <file>", "the config file (YAML or JSON)")
    .addOption(
      new Option("--role <role>", "the role the file is for (guessed from its keys when absent)")
        .choices(["proxy", "exit", "hub", "auth"]),
    )
    .action(async (options: { config: string; role?: ConfigRole | "auth" }) => {
      const role = options.role ?? guessRole(await readConfigText(options.config));
      if (!role) {
        throw new CliExit(
          EXIT_BAD_USAGE,
          `Cannot tell which role "${options.config}" is for; pass --role proxy|exit|hub|auth.`,
        );
      }
      if (role === "auth") {
        const config = await loadAuthConfigFile(options.config);
        console.log(`${options.config}: OK (auth service, ${config.apiKeys.length} API key(s))`);
        return;
      }
      const loaded = await loadRoleConfig(role, options.config);
      await planRole(context, role, pluginSettingsOf(loaded));
      const warnings = loaded.config.warnings;
      if (warnings.length > 0) console.log(formatProblems([...warnings], options.config));
      const adminWarning = loaded.role === "proxy" ? adminTokenWarning(loaded.config) : undefined;
      if (adminWarning) console.log(`${options.config}: warning: ${adminWarning}`);
      const what = loaded.role === "proxy" ? `, ${loaded.config.servers.length} server(s)` : "";
      console.log(`${options.config}: OK (${role}${what})`);
    });
}
