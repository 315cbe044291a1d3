/**
 * `p2proxy demo` (and `deno task start`): the all-in-one demo on loopback.
 *
 * @module
 */
import { addRunFlags } from "./_run_flags.ts";
import type { Command } from "commander";
import type { CliContext } from "../context.ts";
import {
  DEMO_DEFAULT_METRICS_PORT,
  DEMO_DEFAULT_SOCKS_PORT,
  DEMO_DEFAULT_WHOAMI_PORT,
  type DemoFlags,
} from "../demo_flags.ts";

/** Adds the command. */
export function registerDemo(program: Command, context: CliContext): void {
  const command = program
    .command("demo")
    .description(
      "run two exits and a proxy in one process on 127.0.0.1, with a whoami server to try",
    )
    .option("--port <port>", "SOCKS5 port", String(DEMO_DEFAULT_SOCKS_PORT))
    .option(
      "--whoami-port <port>",
      "port of the demo's whoami HTTP server (0 = any)",
      String(DEMO_DEFAULT_WHOAMI_PORT),
    )
    .option(
      "--metrics-port <port>",
      "Prometheus /metrics port (0 = off)",
      String(DEMO_DEFAULT_METRICS_PORT),
    )
    .option(
      "--admin-port <port>",
      "serve the admin API (/v1/listeners, /v1/exits) on 127.0.0.1:<port> (0 = off)",
      "0",
    )
    .option(
      "--client-config <file>",
      "write the JSON options createClient() (./client) takes to reach the demo to this file",
    )
    .action(async (options: DemoFlags) => {
      const { runDemo } = await import("../run/demo.ts");
      await runDemo(options, context);
    });
  addRunFlags(command);
}
