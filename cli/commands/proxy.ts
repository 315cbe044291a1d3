/**
 * `p2proxy proxy -c Config.yaml`: the proxy role.
 *
 * @module
 */
import { type Command, Option } from "commander";
import type { CliContext } from "../context.ts";
import { LOG_LEVELS } from "../logging.ts";

/** Adds the command. */
export function registerProxy(program: Command, context: CliContext): void {
  program
    .command("proxy")
    .description("run the proxy: SOCKS5 listeners whose connections leave through exit peers")
    .requiredOption("-c, --config <file>", "the proxy config (YAML or JSON)")
    .option("--state-dir <dir>", "where the keypair and sticky pools live")
    .addOption(new Option("--log-level <level>", "log level").choices([...LOG_LEVELS]))
    .option("--no-ui", "plain log lines instead of the terminal UI")
    .action(async (options: { config: string; stateDir?: string; logLevel?: string }) => {
      const { runProxy } = await import("../run/proxy.ts");
      await runProxy(options, context);
    });
}
