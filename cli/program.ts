/**
 * The `p2proxy` command line (commander): one subcommand per file under
 * commands/, exit codes of docs/operations.md#exit-codes.
 *
 * @module
 */
import { Command, CommanderError } from "commander";
import { getLogger } from "@logtape/logtape";
import { registerAuth } from "./commands/auth.ts";
import { registerCheck } from "./commands/check.ts";
import { registerDemo } from "./commands/demo.ts";
import { registerExit } from "./commands/exit.ts";
import { registerHub } from "./commands/hub.ts";
import { registerIdentity } from "./commands/identity.ts";
import { registerPermissions } from "./commands/permissions.ts";
import { registerPlugins } from "./commands/plugins.ts";
import { registerProxy } from "./commands/proxy.ts";
import type { CliContext } from "./context.ts";
import { CliExit, EXIT_BAD_USAGE, EXIT_OK, exitCodeFor } from "./exit_codes.ts";
import { configureLogging, shutdownLogging } from "./logging.ts";
import type { StaticPluginModules } from "./plugin_loader.ts";
import { VERSION } from "./version.ts";

/** Options of `runCli`. */
export interface RunCliOptions {
  readonly args?: readonly string[];
  readonly staticModules?: StaticPluginModules;
  /** The specifier printed in `deno run` lines (defaults to this CLI's main module). */
  readonly entry?: string;
}

/** Builds the commander program. Exposed for tests of the help text. */
export function buildProgram(context: CliContext): Command {
  const program = new Command("p2proxy")
    .description("peer-to-peer SOCKS5 proxy kit: proxy, exit, hub and auth roles over libp2p")
    .version(VERSION, "-V, --version", "print the version")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  registerDemo(program, context);
  registerProxy(program, context);
  registerExit(program, context);
  registerHub(program, context);
  registerAuth(program, context);
  registerPlugins(program, context);
  registerCheck(program, context);
  registerPermissions(program, context);
  registerIdentity(program, context);
  for (const command of program.commands) command.exitOverride();
  return program;
}

/** Runs the CLI and returns its exit code (the caller exits). */
export async function runCli(options: RunCliOptions = {}): Promise<number> {
  const context: CliContext = {
    cwd: Deno.cwd(),
    staticModules: options.staticModules ?? {},
    entry: options.entry ?? new URL("./main.ts", import.meta.url).href,
  };
  await configureLogging(Deno.env.get("P2PROXY_LOG_LEVEL") ?? "info");
  const program = buildProgram(context);
  try {
    await program.parseAsync([...(options.args ?? Deno.args)], { from: "user" });
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version end with exit code 0; every other parse failure is bad usage.
      return error.exitCode === 0 ? EXIT_OK : EXIT_BAD_USAGE;
    }
    const code = exitCodeFor(error);
    const message = error instanceof Error ? error.message : String(error);
    if (!(error instanceof CliExit)) {
      getLogger(["p2proxy", "cli"]).debug("{stack}", { stack: (error as Error)?.stack });
    }
    console.error(`p2proxy: ${message}`);
    return code;
  } finally {
    await shutdownLogging();
  }
}
