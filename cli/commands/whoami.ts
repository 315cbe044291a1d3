/**
 * `p2proxy whoami [--port 8000] [--bind 127.0.0.1]`: a tiny HTTP server that
 * answers every request with the address it sees. Point a request at it
 * through a proxy port to see which exit carried it (the README's
 * walk-through ends with it; the demo runs the same server).
 *
 * @module
 */
import type { Command } from "commander";
import { getLogger } from "@logtape/logtape";
import { hostPort } from "../../core/host_port.ts";
import { startWhoamiServer } from "../../compose/whoami_server.ts";
import type { CliContext } from "../context.ts";
import { waitForStopSignal } from "../shutdown.ts";
import { addRunFlags } from "./_run_flags.ts";

const logger = getLogger(["p2proxy", "cli"]);

/** Adds the command. */
export function registerWhoami(program: Command, _context: CliContext): void {
  addRunFlags(
    program
      .command("whoami")
      .description("serve `you came from <address>` over HTTP: a destination to try exits with")
      .option("--port <port>", "the HTTP port (0 = any free port)", "8000")
      .option("--bind <address>", "the address to listen on", "127.0.0.1"),
  ).action(async (options: { port: string; bind: string }) => {
    const server = startWhoamiServer(Number(options.port), options.bind, {
      purpose: "whoami server",
      portFlag: "--port",
    });
    logger.info("whoami server on http://{address}/ (Ctrl-C to stop)", {
      address: hostPort(options.bind, server.port),
    });
    await waitForStopSignal();
    await server.shutdown();
  });
}
