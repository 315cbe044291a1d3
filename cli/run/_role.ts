/**
 * What every long-running role command does first and last: read the config (flags > env >
 * file), configure logging, lock the state dir, and hand the config and the plugin list to the
 * composition root (compose/), which starts the role; at the end, stop it.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { startExit } from "../../compose/exit_role.ts";
import { startHub } from "../../compose/hub_role.ts";
import { startProxy } from "../../compose/proxy_role.ts";
import { type ConfigRole, loadRoleConfig, type RoleConfig } from "../config_file.ts";
import type { CliContext } from "../context.ts";
import { configureLogging } from "../logging.ts";
import { loadPlugins } from "../plugin_loader.ts";
import { StateDirLock } from "../state_dir_lock.ts";

const logger = getLogger(["p2proxy", "cli"]);

/** Flags every role command takes. */
export interface RoleFlags {
  readonly config: string;
  readonly stateDir?: string;
  readonly logLevel?: string;
}

/** What each role command gets back: the running role, with its parts. */
interface RunningRoles {
  readonly proxy: Awaited<ReturnType<typeof startProxy>>;
  readonly exit: Awaited<ReturnType<typeof startExit>>;
  readonly hub: Awaited<ReturnType<typeof startHub>>;
}

/** The composition root's starter of each role that has a config file. */
const STARTERS = { proxy: startProxy, exit: startExit, hub: startHub };

/** A started role, its config, and this process's lock on the state dir. */
export interface StartedRole<R extends ConfigRole> {
  readonly loaded: Extract<RoleConfig, { role: R }>;
  readonly running: RunningRoles[R];
  /** Held until the process ends. */
  readonly lock: StateDirLock;
}

/**
 * Loads the config of `role`, locks its state dir (a second process on the
 * same dir stops here, naming the first one's pid) and starts the role from the plugins of the
 * current folder's deno.json (or the built-ins).
 */
export async function startRole<R extends ConfigRole>(
  role: R,
  flags: RoleFlags,
  context: CliContext,
): Promise<StartedRole<R>> {
  const overrides = {
    ...(flags.stateDir ? { state_dir: flags.stateDir } : {}),
    ...(flags.logLevel ? { log_level: flags.logLevel } : {}),
  };
  const loaded = await loadRoleConfig(role, flags.config, overrides) as Extract<
    RoleConfig,
    { role: R }
  >;
  const config = loaded.config;
  await configureLogging(config.logLevel);
  // Before any plugin reads the identity or the sticky file: they belong to one process. The
  // OS drops the lock when the process ends, also when a step below fails.
  const lock = await StateDirLock.acquire(config.stateDir);
  for (const warning of config.warnings) logger.warn("{path}: {message}", { ...warning });
  const plugins = await loadPlugins(context.cwd, context.staticModules);
  const start = STARTERS[role] as unknown as (
    config: unknown,
    options: { plugins: typeof plugins },
  ) => Promise<RunningRoles[R]>;
  const running = await start(config, { plugins });
  return { loaded, running, lock };
}
