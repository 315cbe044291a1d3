/**
 * The `demo` command's work, loaded only when the command runs: it pulls in
 * libp2p and the data plane, which other commands never need.
 *
 * @module
 */
import { NULL_SINK } from "../../core/ports/event_sink.ts";
import { DEMO_ALLOWED_CIDRS, startDemo } from "../../runtime/demo.ts";
import { composeRole } from "../compose.ts";
import type { CliContext } from "../context.ts";
import { DEMO_RESOLVER_ENV, demoPluginSettings } from "../demo_settings.ts";
import { asPeerId } from "../../core/ids.ts";
import { registerAdminRoutes } from "../../runtime/admin_api.ts";
import { AdminServer } from "../../runtime/admin_server.ts";
import { readEnv } from "../logging.ts";
import { DRAIN_GRACE_MS } from "../shutdown.ts";
import { openRoleConsole } from "./_console.ts";

/** The variable that sets the demo admin API's bearer token (as `admin_token` does on a proxy). */
const ADMIN_TOKEN_ENV = "P2PROXY_ADMIN_TOKEN";

/** The demo command's options (strings, as commander parses them). */
export interface DemoOptions {
  readonly port: string;
  readonly whoamiPort: string;
  readonly metricsPort: string;
  /** 0 (the default) serves no admin API. */
  readonly adminPort?: string;
  /** False with `--no-ui`. */
  readonly ui?: boolean;
}

/** Runs the command until it is asked to stop. */
export async function runDemo(options: DemoOptions, context: CliContext): Promise<void> {
  const metricsPort = Number(options.metricsPort);
  const adminPort = Number(options.adminPort ?? 0);
  const composition = await composeRole(
    context,
    "demo",
    demoPluginSettings(metricsPort, Deno.env.get(DEMO_RESOLVER_ENV)),
    { stateDir: ".", role: "demo" },
  );
  await composition.start();
  const events = composition.find("event-sink") ?? NULL_SINK;
  const demo = await startDemo({
    socksPort: Number(options.port),
    whoamiPort: Number(options.whoamiPort),
    clock: composition.get("clock"),
    events,
    resolver: composition.get("resolver"),
  });
  let admin: AdminServer | undefined;
  try {
    if (adminPort > 0) {
      admin = new AdminServer(adminPort);
      const token = readEnv(ADMIN_TOKEN_ENV);
      registerAdminRoutes(admin, { control: demo.control, ...(token ? { token } : {}) });
      admin.start();
    }
  } catch (error) {
    await demo.stop();
    await composition.stop();
    throw error;
  }
  const pad = "\n                   ";
  const whoami = `http://127.0.0.1:${demo.whoamiPort}/`;
  const tryIt = demo.servers.map((s) => `curl --socks5-hostname 127.0.0.1:${s.port} ${whoami}`);
  const ui = await openRoleConsole(composition, options.ui, {
    role: "demo",
    peerId: asPeerId(demo.proxyPeerId),
    listeners: demo.control.listeners(),
    control: demo.control,
    notes: [
      `Try it: ${tryIt[0]}`,
      ...(admin ? [`Admin API: ${admin.baseUrl()}/v1/listeners`] : []),
    ],
  });
  if (!ui.shown) {
    console.log(
      [
        "",
        "p2proxy demo is running on 127.0.0.1 (Ctrl-C to stop):",
        `  hub              ${demo.hub}`,
        `  exits            ${
          demo.exits.map((e) =>
            `${e.peerId} in ${e.country}, leaves from ${e.source ?? "127.0.0.1"}`
          ).join(pad)
        }`,
        `  SOCKS5 proxy     ${
          demo.servers.map((s) =>
            `socks5h://127.0.0.1:${s.port}  (exits in ${s.country}, found through the hub)`
          ).join(pad)
        }`,
        `  whoami server    ${whoami} (answers with the address it sees)`,
        ...(metricsPort > 0 ? [`  metrics          http://127.0.0.1:${metricsPort}/metrics`] : []),
        ...(admin ? [`  admin API        ${admin.baseUrl()}/v1/listeners`] : []),
        "",
        `  DEMO ONLY: the exits' egress policy allows ${
          DEMO_ALLOWED_CIDRS.join(", ")
        } (loopback), which a real exit denies.`,
        "",
        "Try it:",
        ...tryIt.map((line) => `  ${line}`),
        "",
      ].join("\n"),
    );
  }
  await ui.stopRequested;
  await admin?.stop();
  await demo.stop(DRAIN_GRACE_MS);
  await composition.stop();
}
