/**
 * The `proxy` command's work, loaded only when the command runs: it pulls in
 * libp2p and the data plane, which other commands never need.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { adminApiEnabled, adminTokenWarning, registerAdminRoutes } from "../../proxy/admin_api.ts";
import { HubDirectory } from "../../plugins/directory-hub/hub_directory.ts";
import { NullDirectory } from "../../plugins/directory-hub/null_directory.ts";
import { ProxyNode } from "../../proxy/proxy_node.ts";
import type { CliContext } from "../context.ts";
import { DRAIN_GRACE_MS, waitForStopSignal } from "../shutdown.ts";
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
  const routes = composition.find("http-routes");
  if (routes && adminApiEnabled(config)) {
    registerAdminRoutes(routes, {
      actor: proxy.actor,
      ports: config.servers.map((s) => s.port),
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
  await waitForStopSignal();
  await proxy.stop(DRAIN_GRACE_MS);
  await composition.stop();
}
