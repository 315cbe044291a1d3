/**
 * `p2proxy exit -c Exit.yaml`: the exit role.
 *
 * @module
 */
import { type Command, Option } from "commander";
import type { CliContext } from "../context.ts";
import { LOG_LEVELS } from "../logging.ts";

/** Adds the command. */
export function registerExit(program: Command, context: CliContext): void {
  program
    .command("exit")
    .description("run an exit: open the destination connections that proxies ask for")
    .requiredOption("-c, --config <file>", "the exit config (YAML or JSON)")
    .option("--state-dir <dir>", "where the keypair lives")
    .addOption(new Option("--log-level <level>", "log level").choices([...LOG_LEVELS]))
    .action(async (options: { config: string; stateDir?: string; logLevel?: string }) => {
      const { runExit } = await import("../run/exit.ts");
      await runExit(options, context);
    });
}
