/**
 * The `exit` command's work, loaded only when the command runs: it pulls in
 * libp2p and the data plane, which other commands never need.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { NULL_SINK } from "../../core/ports/event_sink.ts";
import { ExitNode } from "../../runtime/exit_node.ts";
import { composeRole } from "../compose.ts";
import type { CliContext } from "../context.ts";
import { loadRoleConfig } from "../config_file.ts";
import { configureLogging } from "../logging.ts";
import { pluginSettingsOf } from "../plugin_settings.ts";
import { waitForStopSignal } from "../shutdown.ts";

const logger = getLogger(["p2proxy", "cli"]);

/** Runs the command until it is asked to stop. */
export async function runExit(
  options: { config: string; stateDir?: string; logLevel?: string },
  context: CliContext,
): Promise<void> {
  const overrides = {
    ...(options.stateDir ? { state_dir: options.stateDir } : {}),
    ...(options.logLevel ? { log_level: options.logLevel } : {}),
  };
  const loaded = await loadRoleConfig("exit", options.config, overrides);
  if (loaded.role !== "exit") return;
  const config = loaded.config;
  await configureLogging(config.logLevel);
  for (const warning of config.warnings) logger.warn("{path}: {message}", { ...warning });
  const composition = await composeRole(context, "exit", pluginSettingsOf(loaded), {
    stateDir: config.stateDir,
    role: "exit",
  });
  await composition.start();
  const events = composition.find("event-sink") ?? NULL_SINK;
  const network = composition.get("network");
  events.emit({ type: "local-peer-id", peerId: network.peerId });
  const exit = await ExitNode.start({ config, network, events });
  logger.info("Exit {peer} ready at {addresses}", {
    peer: network.peerId,
    addresses: network.addresses().join(" "),
  });
  await waitForStopSignal();
  await exit.stop();
  await composition.stop();
}
