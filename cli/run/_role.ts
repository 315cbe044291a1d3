/**
 * What every long-running role does first and last: read the config (flags >
 * env > file), configure logging, compose and start the plugins; and at the
 * end, stop them in reverse.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Role } from "../../core/plugin/contract.ts";
import type { Composition } from "../../core/plugin/host.ts";
import { type EventSink, NULL_SINK } from "../../core/ports/event_sink.ts";
import { composeRole } from "../compose.ts";
import { type ConfigRole, loadRoleConfig, type RoleConfig } from "../config_file.ts";
import type { CliContext } from "../context.ts";
import { configureLogging } from "../logging.ts";
import { pluginSettingsOf } from "../plugin_settings.ts";
import { StateDirLock } from "../state_dir_lock.ts";

const logger = getLogger(["p2proxy", "cli"]);

/** Flags every role command takes. */
export interface RoleFlags {
  readonly config: string;
  readonly stateDir?: string;
  readonly logLevel?: string;
  /** False with `--no-ui`: plain log lines even on a terminal. */
  readonly ui?: boolean;
}

/** A role's config and started plugins. */
export interface StartedRole<R extends ConfigRole> {
  readonly loaded: Extract<RoleConfig, { role: R }>;
  readonly composition: Composition;
  readonly events: EventSink;
  /** This process's lock on the state dir, held until the process ends. */
  readonly lock: StateDirLock;
}

/**
 * Loads the config of `role`, locks its state dir (a second process on the
 * same dir stops here, naming the first one's pid) and starts its plugins.
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
  const composition = await composeRole(context, role as Role, pluginSettingsOf(loaded), {
    stateDir: config.stateDir,
    role: role as Role,
  });
  await composition.start();
  const events = composition.find("event-sink") ?? NULL_SINK;
  const network = composition.find("network");
  if (network) events.emit({ type: "local-peer-id", peerId: network.peerId });
  return { loaded, composition, events, lock };
}
