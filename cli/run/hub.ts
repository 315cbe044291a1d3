/**
 * The `hub` command's work: the directory and the circuit relay.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { CliContext } from "../context.ts";
import { waitForStopSignal } from "../shutdown.ts";
import { type RoleFlags, startRole } from "./_role.ts";

const logger = getLogger(["p2proxy", "cli"]);

/** Runs the hub until it is asked to stop. */
export async function runHub(flags: RoleFlags, context: CliContext): Promise<void> {
  const { running: hub } = await startRole("hub", flags, context);
  logger.info("Hub {peer} ready at {addresses}", {
    peer: hub.network.peerId,
    addresses: hub.network.addresses().join(" "),
  });
  await waitForStopSignal();
  await hub.stop();
}
