/**
 * The `hub` command's work: the directory and the circuit relay.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { createNodeVerifier } from "../../runtime/auth/node_verifier.ts";
import { HubNode } from "../../runtime/hub_node.ts";
import type { CliContext } from "../context.ts";
import { waitForStopSignal } from "../shutdown.ts";
import { type RoleFlags, startRole } from "./_role.ts";

const logger = getLogger(["p2proxy", "cli"]);

/** How often the hub's counters become a `hub-stats` event (for Prometheus). */
const HUB_STATS_INTERVAL_MS = 5_000;

/** Runs the hub until it is asked to stop. */
export async function runHub(flags: RoleFlags, context: CliContext): Promise<void> {
  const { loaded: { config }, composition, events } = await startRole("hub", flags, context);
  const network = composition.get("network");
  const verifier = await createNodeVerifier(config.auth, "this hub's directory", {
    clock: composition.get("clock"),
    env: (name) => Deno.env.get(name),
  });
  await verifier?.start();
  const geoip = composition.find("geoip");
  const hub = await HubNode.start({
    ...(geoip ? { geoip } : {}),
    config,
    network,
    registry: composition.get("registry-store"),
    clock: composition.get("clock"),
    events,
    ...(verifier
      ? {
        verifyToken: async (token, peer, role) => {
          // Registering needs an exit token; finding and resolving, a proxy's (or an exit's).
          const verdict = await verifier.check(
            token,
            peer,
            role === "exit" ? "exit" : ["proxy", "exit"],
          );
          if (verdict.ok) return verdict;
          const code = verdict.denied ? "permission-denied" : "unauthenticated";
          return { ok: false, code, message: verdict.message };
        },
      }
      : {}),
  });
  const report = async () => events.emit({ type: "hub-stats", ...(await hub.metrics()) });
  const ticker = setInterval(() => report().catch(() => {}), HUB_STATS_INTERVAL_MS);
  logger.info("Hub {peer} ready at {addresses}", {
    peer: network.peerId,
    addresses: network.addresses().join(" "),
  });
  await waitForStopSignal();
  clearInterval(ticker);
  await hub.stop();
  await verifier?.stop();
  await composition.stop();
}
