/**
 * The `proxy` command's work, loaded only when the command runs: it pulls in
 * libp2p and the data plane, which other commands never need.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import {
  adminApiEnabled,
  adminTokenWarning,
  registerAdminRoutes,
} from "../../runtime/admin_api.ts";
import { HubDirectory } from "../../runtime/directory/hub_directory.ts";
import { ProxyExitControl } from "../../runtime/exit_control.ts";
import { NullDirectory } from "../../runtime/null_directory.ts";
import { ProxyNode } from "../../runtime/proxy_node.ts";
import type { CliContext } from "../context.ts";
import { DRAIN_GRACE_MS } from "../shutdown.ts";
import { openRoleConsole } from "./_console.ts";
import { type RoleFlags, startRole } from "./_role.ts";

const logger = getLogger(["p2proxy", "cli"]);

/** Runs the proxy until it is asked to stop. */
export async function runProxy(flags: RoleFlags, context: CliContext): Promise<void> {
  const { loaded: { config }, composition, events } = await startRole("proxy", flags, context);
  const network = composition.get("network");
  const authenticator = composition.find("authenticator");
  if (!authenticator) {
    logger.warn(
      "AUTHENTICATION IS OFF: this proxy sends no token; only hubs and exits without auth will serve it.",
    );
  }
  const token = authenticator ? () => authenticator.token() : undefined;
  const directory = config.bootstrap.length > 0
    ? new HubDirectory({ network, hubs: config.bootstrap, ...(token ? { token } : {}) })
    : new NullDirectory();
  const proxy = await ProxyNode.start({
    config,
    network,
    directory,
    clock: composition.get("clock"),
    stickyStore: composition.get("sticky-store"),
    events,
    ...(authenticator ? { authenticator } : {}),
    ...(config.bootstrap[0] ? { relayAddress: config.bootstrap[0] } : {}),
  });
  const control = new ProxyExitControl({ actor: proxy.actor, servers: config.servers, directory });
  const routes = composition.find("http-routes");
  if (routes && adminApiEnabled(config)) {
    registerAdminRoutes(routes, {
      control,
      ...(config.adminToken === undefined ? {} : { token: config.adminToken }),
    });
    const warning = adminTokenWarning(config);
    if (warning) logger.warn(warning);
  } else if (routes && config.metricsPort > 0) {
    logger.warn("The admin API is off: metrics_bind {bind} is not loopback.", {
      bind: config.metricsBind,
    });
  }
  logger.info("Proxy {peer} ready: {servers}", {
    peer: network.peerId,
    servers: proxy.listeners.map((l) => `socks5://${l.address.hostname}:${l.address.port}`).join(
      ", ",
    ),
  });
  const ui = await openRoleConsole(composition, flags.ui, {
    role: "proxy",
    peerId: network.peerId,
    listeners: control.listeners(),
    control,
  });
  await ui.stopRequested;
  await proxy.stop(DRAIN_GRACE_MS);
  await composition.stop();
}
