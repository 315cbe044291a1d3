/**
 * `p2proxy demo` (and `deno task start`): the all-in-one demo on loopback.
 *
 * @module
 */
import type { Command } from "commander";
import { NULL_SINK } from "../../core/ports/event_sink.ts";
import { DEMO_ALLOWED_CIDRS, startDemo } from "../../runtime/demo.ts";
import { composeRole } from "../compose.ts";
import type { CliContext } from "../context.ts";
import { DRAIN_GRACE_MS, waitForStopSignal } from "../shutdown.ts";

/** Adds the command. */
export function registerDemo(program: Command, context: CliContext): void {
  program
    .command("demo")
    .description(
      "run two exits and a proxy in one process on 127.0.0.1, with a whoami server to try",
    )
    .option("--port <port>", "SOCKS5 port", "1080")
    .option("--whoami-port <port>", "port of the demo's whoami HTTP server (0 = any)", "8080")
    .option("--metrics-port <port>", "Prometheus /metrics port (0 = off)", "9091")
    .action(async (options: { port: string; whoamiPort: string; metricsPort: string }) => {
      const metricsPort = Number(options.metricsPort);
      const composition = await composeRole(context, "demo", {
        plugins: {},
        derivedOptions: { "@p2proxy/metrics-prometheus": { port: metricsPort, role: "demo" } },
      }, { stateDir: ".", role: "demo" });
      await composition.start();
      const events = composition.find("event-sink") ?? NULL_SINK;
      const demo = await startDemo({
        socksPort: Number(options.port),
        whoamiPort: Number(options.whoamiPort),
        clock: composition.get("clock"),
        events,
      });
      const sources = demo.exits.map((e) => e.source ?? "127.0.0.1");
      console.log(
        [
          "",
          "p2proxy demo is running on 127.0.0.1 (Ctrl-C to stop):",
          `  SOCKS5 proxy     socks5h://127.0.0.1:${demo.socksPort}`,
          `  exits            ${
            demo.exits.map((e, i) => `${e.peerId} (leaves from ${sources[i]})`).join(
              "\n                   ",
            )
          }`,
          `  whoami server    http://127.0.0.1:${demo.whoamiPort}/ (answers with the address it sees)`,
          ...(metricsPort > 0
            ? [`  metrics          http://127.0.0.1:${metricsPort}/metrics`]
            : []),
          "",
          `  DEMO ONLY: the exits' egress policy allows ${
            DEMO_ALLOWED_CIDRS.join(", ")
          } (loopback), which a real exit denies.`,
          "",
          "Try it:",
          `  curl --socks5-hostname 127.0.0.1:${demo.socksPort} http://127.0.0.1:${demo.whoamiPort}/`,
          "",
        ].join("\n"),
      );
      await waitForStopSignal();
      await demo.stop(DRAIN_GRACE_MS);
      await composition.stop();
    });
}
