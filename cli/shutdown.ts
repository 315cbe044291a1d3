/**
 * Ctrl-C handling (docs/operations.md#stopping): the first SIGINT (or a SIGTERM) starts a
 * graceful stop — listeners close, sessions get a grace period to finish —
 * and a second SIGINT exits at once with code 130.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { EXIT_INTERRUPTED } from "./exit_codes.ts";

const logger = getLogger(["p2proxy", "cli"]);

/** How long sessions may keep running after the first Ctrl-C. */
export const DRAIN_GRACE_MS = 10_000;

/** Resolves when the process is asked to stop; a second Ctrl-C exits 130 at once. */
export function waitForStopSignal(): Promise<string> {
  return new Promise((resolve) => {
    let asked = false;
    const onSignal = (name: string) => () => {
      if (asked) {
        if (name === "SIGINT") {
          logger.warn("Second Ctrl-C: exiting now.");
          Deno.exit(EXIT_INTERRUPTED);
        }
        return;
      }
      asked = true;
      logger.info(
        "{signal} received: draining sessions for up to {grace} s (Ctrl-C again to exit now).",
        {
          signal: name,
          grace: DRAIN_GRACE_MS / 1000,
        },
      );
      resolve(name);
    };
    Deno.addSignalListener("SIGINT", onSignal("SIGINT"));
    Deno.addSignalListener("SIGTERM", onSignal("SIGTERM"));
  });
}
