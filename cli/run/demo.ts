/**
 * The `demo` command's work, loaded only when the command runs: it pulls in
 * libp2p and the data plane, which other commands never need.
 *
 * @module
 */
import { DEMO_ALLOWED_CIDRS, DEMO_USER, demoClientOptions, startDemo } from "../../compose/demo.ts";
import type { CliContext } from "../context.ts";
import { demoConfigOf, type DemoFlags } from "../demo_flags.ts";
import { loadPlugins } from "../plugin_loader.ts";
import { DRAIN_GRACE_MS } from "../shutdown.ts";
import { openRoleConsole } from "./_console.ts";

/** Runs the command until it is asked to stop. */
export async function runDemo(flags: DemoFlags, context: CliContext): Promise<void> {
  const config = demoConfigOf(flags);
  const plugins = await loadPlugins(context.cwd, context.staticModules);
  const demo = await startDemo(config, { plugins });
  if (flags.clientConfig) {
    // Written whole, then renamed: a reader polling for the file never sees half of it.
    const partial = `${flags.clientConfig}.partial`;
    await Deno.writeTextFile(partial, `${JSON.stringify(demoClientOptions(demo), null, 2)}\n`);
    await Deno.rename(partial, flags.clientConfig);
  }
  const pad = "\n                   ";
  const whoami = `http://127.0.0.1:${demo.whoamiPort}/`;
  const first = demo.servers[0]!;
  const other = demo.servers.slice(1);
  const routed = `${DEMO_USER.username}-country-${other[0]?.country ?? "DE"}-session-s1`;
  const tryIt = [
    `curl -x http://127.0.0.1:${first.port} ${whoami}   # HTTP, exits in ${first.country}`,
    `curl --socks5-hostname 127.0.0.1:${first.port} ${whoami}   # SOCKS5`,
    `curl -x http://127.0.0.1:${first.port} -U ${routed}:${DEMO_USER.password} ${whoami}` +
    "   # the username picks the country and a session",
    ...other.map((s) =>
      `curl --socks5-hostname 127.0.0.1:${s.port} ${whoami}   # exits in ${s.country}`
    ),
  ];
  const adminUrl = demo.adminUrl === undefined ? undefined : `${demo.adminUrl}/v1/listeners`;
  const ui = await openRoleConsole(demo.composition, flags.ui, {
    role: "demo",
    peerId: demo.proxyPeerId,
    listeners: demo.control.listeners(),
    control: demo.control,
    notes: [`Try it: ${tryIt[0]}`, ...(adminUrl ? [`Admin API: ${adminUrl}`] : [])],
  }).catch(async (error) => {
    await demo.stop();
    throw error;
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
        `  proxy ports      ${
          demo.servers.map((s, i) =>
            `127.0.0.1:${s.port}  SOCKS5, SOCKS4a, HTTP (exits in ${s.country}, found through ` +
            `the hub${i === 0 ? `; user ${DEMO_USER.username}/${DEMO_USER.password} routes` : ""})`
          ).join(pad)
        }`,
        `  whoami server    ${whoami} (answers with the address it sees)`,
        ...(config.metricsPort > 0
          ? [`  metrics          http://127.0.0.1:${config.metricsPort}/metrics`]
          : []),
        ...(adminUrl ? [`  admin API        ${adminUrl}`] : []),
        ...(flags.clientConfig
          ? [
            `  client options   ${flags.clientConfig} (createClient(JSON.parse(…)) reaches the demo)`,
          ]
          : []),
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
  await demo.stop(DRAIN_GRACE_MS);
}
