/**
 * `p2proxy check -c FILE`: validates a config file (and the plugin options
 * and choices it makes) and prints every problem at once; exit code 2 when
 * there is one. Without `--role`, the role is the one whose keys the file
 * uses (the file name breaks a tie). What loads but would not work as meant
 * is printed as a warning (see {@link ADVICE}).
 *
 * @module
 */
import { type Command, Option } from "commander";
import {
  type AuthServiceConfig,
  CONFIG_FILE_ROLES,
  type ConfigFileRole,
  type ConfigProblem,
  decisionNote,
  formatProblems,
  inferRole,
  undecidedRoleMessage,
} from "../../core/config/mod.ts";
import { loadRoleConfig, readConfigText, type RoleConfig } from "../config_file.ts";
import type { CliContext } from "../context.ts";
import { CliExit, EXIT_BAD_USAGE } from "../exit_codes.ts";
import { planRole } from "../../compose/plan.ts";
import { loadPlugins } from "../plugin_loader.ts";
import { loadAuthConfigFile } from "./auth.ts";
import { adminTokenWarning } from "../../proxy/admin_api.ts";

/** A config that loaded, with its role. */
export type CheckedConfig = RoleConfig | {
  readonly role: "auth";
  readonly config: AuthServiceConfig;
};

/**
 * Checks of a config that loaded: each returns warnings (path and message,
 * as problems are written) about what will not work as the user probably
 * means. One more check is one more entry.
 */
const ADVICE: ReadonlyArray<(checked: CheckedConfig) => readonly ConfigProblem[]> = [
  // The loader's own notes: legacy keys it ignored, `port` overridden by `listen_addrs`…
  (checked) => checked.config.warnings,
  // A web page cannot drive the admin API, but any local program can unless a token is set.
  (checked) => {
    const warning = checked.role === "proxy" ? adminTokenWarning(checked.config) : undefined;
    return warning ? [{ path: "admin_token", message: warning }] : [];
  },
];

/** Adds the command. */
export function registerCheck(program: Command, context: CliContext): void {
  program
    .command("check")
    .description("validate a config file and print every problem")
    .requiredOption("-c, --config <file>", "the config file (YAML or JSON)")
    .addOption(
      new Option(
        "--role <role>",
        "the role the file is for (without it: the role whose keys the file uses)",
      ).choices(CONFIG_FILE_ROLES),
    )
    .action(async (options: { config: string; role?: ConfigFileRole }) => {
      const path = options.config;
      // Read first: a missing file is an error here, even for the auth service (which starts
      // with its defaults without one).
      const text = await readConfigText(path);
      const { role, how } = options.role === undefined
        ? decideRole(text, path)
        : { role: options.role, how: "" };
      const checked = await loadChecked(context, role, path);
      const warnings = ADVICE.flatMap((advice) => advice(checked));
      if (warnings.length > 0) console.log(formatProblems(warnings, path, "warning"));
      console.log(`${path}: OK (${role}${how}${summaryOf(checked)})`);
    });
}

/** The role of a file given without `--role`, and how it was decided (for the OK line). */
function decideRole(text: string, path: string): { role: ConfigFileRole; how: string } {
  const inference = inferRole(text, path);
  if (inference.role === undefined) {
    throw new CliExit(EXIT_BAD_USAGE, undecidedRoleMessage(inference, path));
  }
  const note = decisionNote(inference);
  return { role: inference.role, how: note === "" ? "" : `, ${note}` };
}

/** Loads the config as `role` would at start, plugin choices and options included. */
async function loadChecked(
  context: CliContext,
  role: ConfigFileRole,
  path: string,
): Promise<CheckedConfig> {
  if (role === "auth") return { role, config: await loadAuthConfigFile(path) };
  const loaded = await loadRoleConfig(role, path);
  planRole(loaded, await loadPlugins(context.cwd, context.staticModules));
  return loaded;
}

function summaryOf(checked: CheckedConfig): string {
  switch (checked.role) {
    case "proxy":
      return `, ${checked.config.servers.length} server(s)`;
    case "auth":
      return `, ${checked.config.apiKeys.length} API key(s)`;
    default:
      return "";
  }
}
