/**
 * The `proxy` command's work, loaded only when the command runs: it pulls in
 * libp2p and the data plane, which other commands never need.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { NULL_SINK } from "../../core/ports/event_sink.ts";
import { asMultiaddr } from "../../core/ids.ts";
import { NullDirectory } from "../../runtime/null_directory.ts";
import { ProxyNode } from "../../runtime/proxy_node.ts";
import { registerAdminRoutes } from "../../runtime/admin_api.ts";
import { isLoopbackAddress } from "../../core/config/common.ts";
import { composeRole } from "../compose.ts";
import type { CliContext } from "../context.ts";
import { loadRoleConfig } from "../config_file.ts";
import { configureLogging } from "../logging.ts";
import { pluginSettingsOf } from "../plugin_settings.ts";
import { DRAIN_GRACE_MS, waitForStopSignal } from "../shutdown.ts";

const logger = getLogger(["p2proxy", "cli"]);

/** Runs the command until it is asked to stop. */
export async function runProxy(
  options: { config: string; stateDir?: string; logLevel?: string },
  context: CliContext,
): Promise<void> {
  const overrides = {
    ...(options.stateDir ? { state_dir: options.stateDir } : {}),
    ...(options.logLevel ? { log_level: options.logLevel } : {}),
  };
  const loaded = await loadRoleConfig("proxy", options.config, overrides);
  if (loaded.role !== "proxy") return;
  const config = loaded.config;
  await configureLogging(config.logLevel);
  for (const warning of config.warnings) logger.warn("{path}: {message}", { ...warning });
  const composition = await composeRole(context, "proxy", pluginSettingsOf(loaded), {
    stateDir: config.stateDir,
    role: "proxy",
  });
  await composition.start();
  const events = composition.find("event-sink") ?? NULL_SINK;
  const network = composition.get("network");
  events.emit({ type: "local-peer-id", peerId: network.peerId });
  const proxy = await ProxyNode.start({
    config,
    network,
    directory: new NullDirectory(),
    clock: composition.get("clock"),
    stickyStore: composition.get("sticky-store"),
    events,
    ...(config.bootstrap[0] ? { relayAddress: asMultiaddr(config.bootstrap[0]) } : {}),
  });
  const routes = composition.find("http-routes");
  if (routes && isLoopbackAddress(config.metricsBind)) {
    registerAdminRoutes(routes, proxy.actor, config.servers.map((s) => s.port));
  } else if (routes && config.metricsPort > 0) {
    logger.warn("The admin API is off: metrics_bind {bind} is not loopback.", {
      bind: config.metricsBind,
    });
  }
  logger.info("Proxy {peer} ready: {servers}", {
    peer: network.peerId,
    servers: proxy.listeners.map((l) => `socks5://${l.address.hostname}:${l.address.port}`)
      .join(", "),
  });
  await waitForStopSignal();
  await proxy.stop(DRAIN_GRACE_MS);
  await composition.stop();
}
