/**
 * The `proxy` command's work, loaded only when the command runs: it pulls in
 * libp2p and the data plane, which other commands never need.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { CliContext } from "../context.ts";
import { DRAIN_GRACE_MS, waitForStopSignal } from "../shutdown.ts";
import { type RoleFlags, startRole } from "./_role.ts";

const logger = getLogger(["p2proxy", "cli"]);

/** Runs the proxy until it is asked to stop. */
export async function runProxy(flags: RoleFlags, context: CliContext): Promise<void> {
  const { running: proxy } = await startRole("proxy", flags, context);
  logger.info("Proxy {peer} ready: {servers}", {
    peer: proxy.network.peerId,
    servers: proxy.doors.listeners.map((l) => `socks5://${l.address.hostname}:${l.address.port}`)
      .join(", "),
  });
  await waitForStopSignal();
  await proxy.stop(DRAIN_GRACE_MS);
}
