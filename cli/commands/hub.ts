/**
 * `p2proxy hub -c Hub.yaml`: the directory of exits and the circuit relay.
 *
 * @module
 */
import type { Command } from "commander";
import type { CliContext } from "../context.ts";
import { addRunFlags, type RunFlags } from "./_run_flags.ts";

/** Adds the command. */
export function registerHub(program: Command, context: CliContext): void {
  const command = program
    .command("hub")
    .description("run a hub: the directory of exits and a circuit relay for exits behind NAT")
    .requiredOption("-c, --config <file>", "the hub config (YAML or JSON)")
    .option("--state-dir <dir>", "where the keypair lives");
  addRunFlags(command)
    .action(async (options: RunFlags & { config: string; stateDir?: string }) => {
      const { runHub } = await import("../run/hub.ts");
      await runHub(options, context);
    });
}
