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
import { registerWhoami } from "./commands/whoami.ts";
import type { CliContext } from "./context.ts";
import { CliExit, EXIT_BAD_USAGE, EXIT_OK, exitCodeFor } from "./exit_codes.ts";
import { type RunFlags, takesRunFlags } from "./commands/_run_flags.ts";
import {
  chooseLogFormat,
  configureLogging,
  initialLogLevel,
  readEnv,
  shutdownLogging,
  writeFatal,
} from "./logging.ts";
import type { StaticPluginModules } from "./plugin_loader.ts";
import { P2proxyError } from "../core/errors.ts";
import { ListenError } from "../wire/listen_error.ts";
import { VERSION } from "./version.ts";

/** Options of `runCli`. */
export interface RunCliOptions {
  readonly args?: readonly string[];
  readonly staticModules?: StaticPluginModules;
  /** The specifier printed in `deno run` lines (defaults to this CLI's main module). */
  readonly entry?: string;
}

/** Most causes followed looking for a {@link ListenError} (a chain is short; a cycle is not). */
const MAX_CAUSE_DEPTH = 8;

/** The listener error in `error`'s cause chain, if any. */
function findListenError(error: unknown): ListenError | undefined {
  let current = error;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && current instanceof Error; depth++) {
    if (current instanceof ListenError) return current;
    current = current.cause;
  }
  return undefined;
}

/**
 * The demo has no config file: its listeners are set by `--port` (both SOCKS
 * ports) and `--metrics-port`; the whoami server already names its flag.
 */
function withDemoFlag(error: ListenError): ListenError {
  if (error.configKey.startsWith("servers[")) return error.withConfigKey("--port");
  if (error.configKey === "metrics_port") return error.withConfigKey("--metrics-port");
  return error;
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
  registerWhoami(program, context);
  for (const command of program.commands) command.exitOverride();
  // Long-running commands choose their log level and format before they run, so that
  // everything they print (even a config error) is in the format asked for.
  program.hook("preAction", async (_program, action) => {
    if (!takesRunFlags(action)) return;
    const flags = action.opts<RunFlags>();
    const format = chooseLogFormat(flags.logFormat, readEnv);
    await configureLogging(initialLogLevel(flags.logLevel, readEnv), format);
  });
  return program;
}

/** Runs the CLI and returns its exit code (the caller exits). */
export async function runCli(options: RunCliOptions = {}): Promise<number> {
  const context: CliContext = {
    cwd: Deno.cwd(),
    staticModules: options.staticModules ?? {},
    entry: options.entry ?? new URL("./main.ts", import.meta.url).href,
  };
  await configureLogging(initialLogLevel(undefined, readEnv), "text");
  const program = buildProgram(context);
  let running: string | undefined;
  program.hook("preAction", (_program, action) => {
    running = action.name();
  });
  try {
    await program.parseAsync([...(options.args ?? Deno.args)], { from: "user" });
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version end with exit code 0; every other parse failure is bad usage.
      return error.exitCode === 0 ? EXIT_OK : EXIT_BAD_USAGE;
    }
    const code = exitCodeFor(error);
    // A listener that cannot bind says it all in one line; the wrappers around it add nothing.
    const listen = findListenError(error);
    const shown = listen && running === "demo" ? withDemoFlag(listen) : listen ?? error;
    const message = shown instanceof Error ? shown.message : String(shown);
    if (!(error instanceof CliExit)) {
      getLogger(["p2proxy", "cli"]).debug("{stack}", { stack: (error as Error)?.stack });
    }
    writeFatal(message, {
      exitCode: code,
      ...(shown instanceof P2proxyError ? { code: shown.code } : {}),
    });
    return code;
  } finally {
    await shutdownLogging();
  }
}
