/**
 * The `exit` command's work, loaded only when the command runs: it pulls in
 * libp2p and the data plane, which other commands never need.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { CliContext } from "../context.ts";
import { DRAIN_GRACE_MS, waitForStopSignal } from "../shutdown.ts";
import { type RoleFlags, startRole } from "./_role.ts";

const logger = getLogger(["p2proxy", "cli"]);

/** Runs the exit until it is asked to stop. */
export async function runExit(flags: RoleFlags, context: CliContext): Promise<void> {
  const { running: exit } = await startRole("exit", flags, context);
  logger.info("Exit {peer} ready at {addresses}", {
    peer: exit.network.peerId,
    addresses: exit.network.addresses().join(" ") || "(relay addresses pending)",
  });
  await waitForStopSignal();
  await exit.stop(DRAIN_GRACE_MS);
}
