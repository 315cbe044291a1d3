/**
 * `p2proxy hub -c Hub.yaml`: the directory of exits and the circuit relay.
 *
 * @module
 */
import { type Command, Option } from "commander";
import type { CliContext } from "../context.ts";
import { LOG_LEVELS } from "../logging.ts";

/** Adds the command. */
export function registerHub(program: Command, context: CliContext): void {
  program
    .command("hub")
    .description("run a hub: the directory of exits and a circuit relay for exits behind NAT")
    .requiredOption("-c, --config <file>", "the hub config (YAML or JSON)")
    .option("--state-dir <dir>", "where the keypair lives")
    .addOption(new Option("--log-level <level>", "log level").choices([...LOG_LEVELS]))
    .action(async (options: { config: string; stateDir?: string; logLevel?: string }) => {
      const { runHub } = await import("../run/hub.ts");
      await runHub(options, context);
    });
}
