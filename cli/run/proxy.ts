/**
 * The `proxy` command's work, loaded only when the command runs: it pulls in
 * libp2p and the data plane, which other commands never need.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { CliContext } from "../context.ts";
import { DRAIN_GRACE_MS } from "../shutdown.ts";
import { openRoleConsole } from "./_console.ts";
import { type RoleFlags, startRole } from "./_role.ts";

const logger = getLogger(["p2proxy", "cli"]);

/** Runs the proxy until it is asked to stop. */
export async function runProxy(flags: RoleFlags, context: CliContext): Promise<void> {
  const { running: proxy } = await startRole("proxy", flags, context);
  logger.info("Proxy {peer} ready: {servers}", {
    peer: proxy.network.peerId,
    servers: proxy.control.listeners().map((l) => `${l.protocol}://${l.bind}:${l.port}`)
      .join(", "),
  });
  const ui = await openRoleConsole(proxy.composition, flags.ui, {
    role: "proxy",
    peerId: proxy.network.peerId,
    listeners: proxy.control.listeners(),
    control: proxy.control,
  }).catch(async (error) => {
    await proxy.stop();
    throw error;
  });
  await ui.stopRequested;
  await proxy.stop(DRAIN_GRACE_MS);
}
