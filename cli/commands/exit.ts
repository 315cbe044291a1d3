/**
 * `p2proxy exit -c Exit.yaml`: the exit role.
 *
 * @module
 */
import type { Command } from "commander";
import type { CliContext } from "../context.ts";
import { addRunFlags, type RunFlags } from "./_run_flags.ts";

/** Adds the command. */
export function registerExit(program: Command, context: CliContext): void {
  const command = program
    .command("exit")
    .description("run an exit: open the destination connections that proxies ask for")
    .requiredOption("-c, --config <file>", "the exit config (YAML or JSON)")
    .option("--state-dir <dir>", "where the keypair lives");
  addRunFlags(command)
    .action(async (options: RunFlags & { config: string; stateDir?: string }) => {
      const { runExit } = await import("../run/exit.ts");
      await runExit(options, context);
    });
}
