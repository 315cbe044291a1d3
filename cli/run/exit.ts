/**
 * The `exit` command's work, loaded only when the command runs: it pulls in
 * libp2p and the data plane, which other commands never need.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { ExitRegistrar } from "../../exit/exit_registrar.ts";
import { createNodeVerifier } from "../../auth/node_verifier.ts";
import { ExitNode } from "../../exit/exit_node.ts";
import type { CliContext } from "../context.ts";
import { DRAIN_GRACE_MS, waitForStopSignal } from "../shutdown.ts";
import { type RoleFlags, startRole } from "./_role.ts";

const logger = getLogger(["p2proxy", "cli"]);

/** Runs the exit until it is asked to stop. */
export async function runExit(flags: RoleFlags, context: CliContext): Promise<void> {
  const { loaded: { config }, composition, events } = await startRole("exit", flags, context);
  const network = composition.get("network");
  const verifier = await createNodeVerifier(config.auth, "this exit", {
    clock: composition.get("clock"),
    env: (name) => Deno.env.get(name),
  });
  await verifier?.start();
  const exit = await ExitNode.start({
    config,
    network,
    events,
    resolver: composition.get("resolver"),
    ...(verifier ? { verifyToken: (token, peer) => verifier.check(token, peer, "proxy") } : {}),
  });
  const authenticator = composition.find("authenticator");
  const registrar = config.bootstrap.length > 0
    ? ExitRegistrar.start({
      network,
      hubs: config.bootstrap,
      attributes: config.attributes,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      clock: composition.get("clock"),
      ...(authenticator ? { token: () => authenticator.token() } : {}),
    })
    : undefined;
  if (!registrar) {
    logger.warn("No hub in `bootstrap`: only proxies that pin this exit's address can use it.");
  }
  logger.info("Exit {peer} ready at {addresses}", {
    peer: network.peerId,
    addresses: network.addresses().join(" ") || "(relay addresses pending)",
  });
  await waitForStopSignal();
  await registrar?.stop();
  await exit.stop(DRAIN_GRACE_MS);
  await verifier?.stop();
  await composition.stop();
}
