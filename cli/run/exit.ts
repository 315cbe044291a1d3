/**
 * The `exit` command's work, loaded only when the command runs: it pulls in
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

/** Runs the exit until it is asked to stop. */
export async function runExit(flags: RoleFlags, context: CliContext): Promise<void> {
  const { running: exit } = await startRole("exit", flags, context);
  logger.info("Exit {peer} ready at {addresses}", {
    peer: exit.network.peerId,
    addresses: exit.network.addresses().join(" ") || "(relay addresses pending)",
  });
  const ui = await openRoleConsole(exit.composition, flags.ui, {
    role: "exit",
    peerId: exit.network.peerId,
  }).catch(async (error) => {
    await exit.stop();
    throw error;
  });
  await ui.stopRequested;
  await exit.stop(DRAIN_GRACE_MS);
}
