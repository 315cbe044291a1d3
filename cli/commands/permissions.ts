/**
 * `p2proxy permissions <command> -c FILE`: the narrowest `deno run` line that
 * this command with this config needs (docs/plugins.md#permissions): the role's own needs merged
 * with what each chosen plugin declares. `--npx` prints the same command
 * through `npx -y deno@<version>` for machines without `deno` on PATH.
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
import { planDemo } from "../../compose/demo.ts";
import { planRole } from "../../compose/plan.ts";
import { type ConfigRole, loadRoleConfig } from "../config_file.ts";
import type { CliContext } from "../context.ts";
import { demoConfigOf } from "../demo_flags.ts";
import { CliExit, EXIT_BAD_USAGE } from "../exit_codes.ts";
import { loadPlugins } from "../plugin_loader.ts";
import {
  demoPermissions,
  launcherWords,
  rolePermissions,
  shellQuote,
  YAML_ENV,
} from "../role_permissions.ts";
import { stateDirLockPermissions } from "../state_dir_lock.ts";

/** The commands `permissions` knows: every long-running one. */
const COMMANDS = ["proxy", "exit", "hub", "auth", "demo"] as const;

/** A command `permissions` prints a line for (`auth` stands for `auth serve`). */
export type PermissionsCommand = typeof COMMANDS[number];

/** The flags of `permissions` that shape the printed line. */
export interface PermissionsFlags {
  readonly config?: string;
  readonly stateDir?: string;
  readonly port?: string;
  readonly whoamiPort?: string;
  readonly metricsPort?: string;
  readonly adminPort?: string;
  readonly clientConfig?: string;
  readonly npx?: boolean;
  readonly flagsOnly?: boolean;
}

/** The demo's own flags, passed on to the printed line. */
const DEMO_FLAGS = [
  ["port", "--port"],
  ["whoamiPort", "--whoami-port"],
  ["metricsPort", "--metrics-port"],
  ["adminPort", "--admin-port"],
  ["clientConfig", "--client-config"],
] as const;

/** Adds the command. */
export function registerPermissions(program: Command, context: CliContext): void {
  program
    .command("permissions")
    .description(
      "print the narrowest `deno run --allow-*` line a command needs with a config " +
        "(run it from the same folder)",
    )
    .addArgument(new Argument("<command>", "the command to run").choices([...COMMANDS]))
    .option("-c, --config <file>", "the config file the command will run with (not for demo)")
    .option("--state-dir <dir>", "the --state-dir the command will run with")
    .option("--port <port>", "demo only: its --port")
    .option("--whoami-port <port>", "demo only: its --whoami-port")
    .option("--metrics-port <port>", "demo only: its --metrics-port")
    .option("--admin-port <port>", "demo only: its --admin-port")
    .option("--client-config <file>", "demo only: its --client-config (granted writing it)")
    .option("--npx", "print the line through `npx -y deno@<version>` instead of `deno`")
    .option("--flags-only", "print only the permission flags")
    .action(async (command: PermissionsCommand, flags: PermissionsFlags) => {
      const line = await permissionLine(context, command, flags);
      const words = flags.flagsOnly ? line.permissionFlags : [
        ...launcherWords(flags.npx ? "npx" : "deno"),
        "run",
        ...line.permissionFlags,
        context.entry,
        ...line.commandWords,
      ];
      console.log(words.map(shellQuote).join(" "));
    });
}

/** The parts of a printed line around the launcher and the entry point. */
export interface PermissionLine {
  /** `--no-prompt` and the narrowest `--allow-*` flags. */
  readonly permissionFlags: string[];
  /** What follows the entry point: the command and its flags (`proxy -c Config.yaml`). */
  readonly commandWords: string[];
}

/**
 * The line `p2proxy permissions <command>` prints, in parts (`p2proxy service`
 * puts the same parts in a systemd unit). Checks the flags first.
 *
 * @example
 * ```ts
 * const { permissionFlags, commandWords } = await permissionLine(context, "hub", { config: "Hub.yaml" });
 * ```
 */
export async function permissionLine(
  context: CliContext,
  command: PermissionsCommand,
  flags: PermissionsFlags,
): Promise<PermissionLine> {
  checkFlags(command, flags);
  const permissions = await permissionSetOf(context, command, flags);
  return {
    permissionFlags: ["--no-prompt", ...renderPermissionFlags(permissions)],
    commandWords: commandWords(command, flags),
  };
}

function checkFlags(command: PermissionsCommand, flags: PermissionsFlags): void {
  if (command === "demo") {
    if (flags.config !== undefined || flags.stateDir !== undefined) {
      throw new CliExit(
        EXIT_BAD_USAGE,
        "The demo takes no config and no state dir: drop -c and --state-dir.",
      );
    }
    return;
  }
  if (flags.config === undefined) {
    throw new CliExit(
      EXIT_BAD_USAGE,
      `Give the config "${command}" will run with: p2proxy permissions ${command} -c FILE.`,
    );
  }
  const demoFlag = DEMO_FLAGS.find(([key]) => flags[key] !== undefined);
  if (demoFlag) {
    throw new CliExit(
      EXIT_BAD_USAGE,
      `${demoFlag[1]} is a flag of the demo; "${command}" takes its ports from the config.`,
    );
  }
}

/** What the printed line runs after the entry point: the command and its flags. */
function commandWords(command: PermissionsCommand, flags: PermissionsFlags): string[] {
  if (command === "demo") {
    return ["demo", ...DEMO_FLAGS.flatMap(([key, flag]) => flags[key] ? [flag, flags[key]] : [])];
  }
  return [
    ...(command === "auth" ? ["auth", "serve"] : [command]),
    "-c",
    flags.config!,
    ...(flags.stateDir ? ["--state-dir", flags.stateDir] : []),
  ];
}

async function permissionSetOf(
  context: CliContext,
  command: PermissionsCommand,
  flags: PermissionsFlags,
): Promise<PermissionSet> {
  const overrides = flags.stateDir ? { state_dir: flags.stateDir } : {};
  switch (command) {
    case "demo":
      return await demoPermissionSet(context, flags);
    case "auth": {
      const config = await loadAuthConfigFile(flags.config!, overrides);
      const plan = planRole(
        { role: "auth", config },
        await loadPlugins(context.cwd, context.staticModules),
      );
      return mergePermissions(
        authServePermissions(config, flags.config!),
        // The plugin list (the service's clock comes from it).
        { env: YAML_ENV, read: ["deno.json"] },
        stateDirLockPermissions(config.stateDir),
        planPermissions(plan, { stateDir: config.stateDir, role: "auth" }),
      );
    }
    default:
      return await rolePermissionSet(context, command, flags.config!, overrides);
  }
}

/** The role's own needs merged with those of every plugin it would load. */
async function rolePermissionSet(
  context: CliContext,
  role: ConfigRole,
  configPath: string,
  overrides: Readonly<Record<string, unknown>>,
): Promise<PermissionSet> {
  const loaded = await loadRoleConfig(role, configPath, overrides);
  const plan = planRole(loaded, await loadPlugins(context.cwd, context.staticModules));
  return mergePermissions(
    rolePermissions(loaded, configPath),
    planPermissions(plan, { stateDir: loaded.config.stateDir, role }),
  );
}

/** The demo's own needs merged with those of the plugins its four roles load. */
async function demoPermissionSet(
  context: CliContext,
  flags: PermissionsFlags,
): Promise<PermissionSet> {
  const plans = planDemo(
    demoConfigOf(flags),
    await loadPlugins(context.cwd, context.staticModules),
  );
  // The client options are written beside themselves first (`<file>.partial`), then renamed.
  const clientConfig = flags.clientConfig
    ? [{ write: [flags.clientConfig, `${flags.clientConfig}.partial`] }]
    : [];
  return mergePermissions(
    demoPermissions(),
    ...clientConfig,
    ...plans.map(({ role, plan }) => planPermissions(plan, { stateDir: ".", role })),
  );
}
