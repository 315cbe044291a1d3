/**
 * `p2proxy proxy -c Config.yaml`: the proxy role.
 *
 * @module
 */
import type { Command } from "commander";
import type { CliContext } from "../context.ts";
import { addRunFlags, type RunFlags } from "./_run_flags.ts";

/** Adds the command. */
export function registerProxy(program: Command, context: CliContext): void {
  const command = program
    .command("proxy")
    .description("run the proxy: SOCKS5 listeners whose connections leave through exit peers")
    .requiredOption("-c, --config <file>", "the proxy config (YAML or JSON)")
    .option("--state-dir <dir>", "where the keypair and sticky pools live");
  addRunFlags(command)
    .action(async (options: RunFlags & { config: string; stateDir?: string }) => {
      const { runProxy } = await import("../run/proxy.ts");
      await runProxy(options, context);
    });
}
