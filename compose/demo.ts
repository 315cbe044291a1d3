/**
 * The all-in-one demo: a hub, two exits and a proxy in one process, on loopback, composed by the
 * same root as `p2proxy hub`, `exit` and `proxy` — four roles from their configs and the built-in
 * plugins, with throwaway identities and in-memory stores (plugin choices), so no file is
 * written. One clock, one resolver and one set of event sinks (the log, Prometheus) serve all
 * four. The exits register with the hub (one in NL, one in DE) and leave from 127.0.0.2 and
 * 127.0.0.3 when the system allows binding them, so the whoami server shows which exit carried a
 * request. The proxy serves two mixed ports (SOCKS5, SOCKS4a, HTTP) that discover their exit by
 * country — the first also takes user `demo`/`demo` whose username routes
 * (`demo-country-DE`) — and with `adminPort` its
 * admin API is served on 127.0.0.1 (the proxy's own metrics port is not used in the demo).
 *
 * @module
 */
import { loadExitConfig, loadHubConfig, loadProxyConfig } from "../core/config/mod.ts";
import type { DemoConfig } from "../core/config/demo_config.ts";
import type { ExitConfig } from "../core/config/exit_config.ts";
import type { HubConfig } from "../core/config/hub_config.ts";
import type { ProxyConfig } from "../core/config/proxy_config.ts";
import type {
  CapabilityName,
  PluginDefinition,
  Role,
  RoleSettings,
} from "../core/plugin/contract.ts";
import type { CompositionPlan, GivenPorts } from "../core/plugin/host.ts";
import type { PeerId } from "../core/ids.ts";
import type { ExitControl } from "../core/ports/exit_control.ts";
import { BUILTIN_PLUGINS } from "../plugins/builtin.ts";
import { registerAdminRoutes } from "../proxy/admin_api.ts";
import { AdminServer } from "../proxy/admin_server.ts";
import { type ExitRole, startExit } from "./exit_role.ts";
import { startHub } from "./hub_role.ts";
import { planRole, type PluginList } from "./plan.ts";
import { startProxy } from "./proxy_role.ts";
import { type ComposeOptions, composeRole, type RunningRole } from "./role.ts";
import { startWhoamiServer } from "./whoami_server.ts";

/** The demo's egress exception: loopback, for the demo only. */
export const DEMO_ALLOWED_CIDRS = ["127.0.0.0/8", "::1/128"];

/** The demo's exits: where each says it is, and the address it leaves from. */
const DEMO_EXITS = [
  { country: "NL", city: "Amsterdam", source: "127.0.0.2" },
  { country: "DE", city: "Berlin", source: "127.0.0.3" },
] as const;

/** Every demo node listens for peers here. */
const LOOPBACK_LISTEN = ["/ip4/127.0.0.1/tcp/0"];

/** The demo's nodes keep nothing: a new identity every run, pools and registry in memory. */
const IN_MEMORY_PROVIDERS = {
  "identity": "@p2proxy/identity-memory",
  "sticky-store": "@p2proxy/sticky-memory",
  "registry-store": "@p2proxy/registry-memory",
};

/** How long the demo waits for an exit's first registration. */
const REGISTRATION_TIMEOUT_MS = 10_000;

/**
 * The plugins of the demo's nodes: the built-ins without the event sinks and the metrics
 * endpoint, which the demo serves once for all four nodes.
 */
const DEMO_NODE_PLUGINS: PluginList = {
  plugins: BUILTIN_PLUGINS.filter((plugin: PluginDefinition) =>
    !plugin.provides.some((c) => c === "event-sink" || c === "http-routes")
  ),
  builtin: true,
};

/** One SOCKS port of the demo and what it asks for. */
export interface DemoServer {
  /** The bound port. */
  readonly port: number;
  /** The country its exits are in. */
  readonly country: string;
}

/** A running demo. */
export interface DemoRole extends RunningRole {
  /** The demo role. */
  readonly role: "demo";
  /** The proxy's SOCKS ports. */
  readonly servers: readonly DemoServer[];
  /** The whoami server's port. */
  readonly whoamiPort: number;
  /** The hub's address. */
  readonly hub: string;
  /** The exits, where they say they are, and the address they leave from. */
  readonly exits: readonly { peerId: string; country: string; source: string | undefined }[];
  /** The proxy's peer id. */
  readonly proxyPeerId: PeerId;
  /** The proxy's exit control: what the terminal UI and the admin API drive. */
  readonly control: ExitControl;
  /** Where the admin API is served (`http://127.0.0.1:<adminPort>`); undefined without one. */
  readonly adminUrl: string | undefined;
}

/** The demo hub's config: loopback, in-memory registry and identity. */
export function demoHubConfig(): HubConfig {
  return loadHubConfig(
    JSON.stringify({ listen_addrs: LOOPBACK_LISTEN, providers: IN_MEMORY_PROVIDERS }),
    { source: "demo-hub.json" },
  );
}

/** A demo exit's config: registered with the demo hub, loopback allowed, leaving from `bindAddress`. */
export function demoExitConfig(
  exit: { readonly country: string; readonly city: string },
  hubAddress: string,
  bindAddress: string | undefined,
): ExitConfig {
  return loadExitConfig(
    JSON.stringify({
      listen_addrs: LOOPBACK_LISTEN,
      bootstrap: [hubAddress],
      // The demo's exits are reached directly, never through the hub's relay.
      relay: "never",
      attributes: { country: exit.country, city: exit.city, bandwidth: "1Gbps" },
      egress: { allow_cidrs: DEMO_ALLOWED_CIDRS },
      providers: IN_MEMORY_PROVIDERS,
      ...(bindAddress ? { bind_address: bindAddress } : {}),
    }),
    { source: "demo-exit.json" },
  );
}

/**
 * The demo's account on its first port: clients may also come without credentials, and the
 * username routes (`demo-country-DE:demo` leaves from the DE exit).
 */
export const DEMO_USER = { username: "demo", password: "demo" } as const;

/** The demo proxy's config: its ports find their exits through the demo hub. */
export function demoProxyConfig(
  hubAddress: string,
  servers: readonly Readonly<Record<string, unknown> & { port: number; country: string }>[],
): ProxyConfig {
  return loadProxyConfig(
    JSON.stringify({
      listen_addrs: LOOPBACK_LISTEN,
      bootstrap: [hubAddress],
      servers,
      providers: IN_MEMORY_PROVIDERS,
    }),
    { source: "demo-proxy.json" },
  );
}

/**
 * The ports of the demo's proxy: `socksPort` and the next one (ports key the proxy's servers, so
 * neither may be 0: tests pick two free ones with `freePortPair`), both mixed
 * (SOCKS5, SOCKS4a, HTTP). The first also takes user `demo` / `demo` beside anonymous clients,
 * so its username picks the country and session.
 */
function demoServers(
  config: DemoConfig,
): (Record<string, unknown> & { port: number; country: string })[] {
  return DEMO_EXITS.map((exit, i) => ({
    port: config.socksPort + i,
    country: exit.country,
    ...(i === 0 ? { users: [DEMO_USER], allow_anonymous: true } : {}),
  }));
}

/** A hub address for planning before the hub runs (its peer id is a placeholder). */
const PLANNING_HUB_ADDRESS =
  "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWS6M2cP13vSHoPXVYbmYvhFgZowNrwyy7VkvbEUgXiXGZ";

/**
 * Every composition the demo makes — its own plugins, then the hub, the exits and the proxy —
 * planned and validated without creating anything (for `p2proxy permissions demo`).
 */
export function planDemo(
  config: DemoConfig,
  list: PluginList,
): { readonly role: Role; readonly plan: CompositionPlan }[] {
  const shared = planRole({ role: "demo", config }, list);
  const given: CapabilityName[] = ["clock", "event-sink", "resolver"];
  const node = (settings: RoleSettings) => ({
    role: settings.role,
    plan: planRole(settings, DEMO_NODE_PLUGINS, { given }),
  });
  return [
    { role: "demo", plan: shared },
    node({ role: "hub", config: demoHubConfig() }),
    ...DEMO_EXITS.map((exit) =>
      node({ role: "exit", config: demoExitConfig(exit, PLANNING_HUB_ADDRESS, exit.source) })
    ),
    node({ role: "proxy", config: demoProxyConfig(PLANNING_HUB_ADDRESS, demoServers(config)) }),
  ];
}

/**
 * The options `createClient` (./client) takes to reach a running demo: its hub (the demo runs
 * without authentication, so no token).
 *
 * @example
 * ```ts
 * const client = await createClient(demoClientOptions(demo));
 * ```
 */
export function demoClientOptions(demo: Pick<DemoRole, "hub">): { bootstrap: string[] } {
  return { bootstrap: [demo.hub] };
}

/** True when this host can bind outgoing connections to `address` (Linux loopback /8 can; macOS cannot). */
function canBind(address: string): boolean {
  try {
    Deno.listen({ hostname: address, port: 0 }).close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts the hub, the two exits (registered), the whoami server and the proxy. `options` are
 * the demo's own plugins: the clock, the resolver, the event sinks and the metrics endpoint.
 *
 * @example
 * ```ts
 * const demo = await startDemo({ socksPort: 1080, whoamiPort: 0, metricsPort: 0, metricsBind: "127.0.0.1", providers: {} });
 * demo.servers[0]!.port; // curl --socks5-hostname 127.0.0.1:<port> http://127.0.0.1:<whoamiPort>/
 * await demo.stop();
 * ```
 */
export function startDemo(config: DemoConfig, options: ComposeOptions = {}): Promise<DemoRole> {
  return composeRole({ role: "demo", config }, options, async (composition, events) => {
    const shared: GivenPorts = {
      "clock": composition.get("clock"),
      "event-sink": events,
      "resolver": composition.get("resolver"),
    };
    const nodes = { plugins: DEMO_NODE_PLUGINS, given: shared };

    const hubConfig = demoHubConfig();
    const hub = await composition.startService("hub", () => startHub(hubConfig, nodes));
    const hubAddress = hub.network.addresses()[0]!;

    const exits = [];
    for (const exit of DEMO_EXITS) {
      const bindAddress = canBind(exit.source) ? exit.source : undefined;
      const exitConfig = demoExitConfig(exit, hubAddress, bindAddress);
      const running: ExitRole = await composition.startService(
        `exit ${exit.country}`,
        () => startExit(exitConfig, nodes),
      );
      await running.whenRegistered(AbortSignal.timeout(REGISTRATION_TIMEOUT_MS));
      exits.push({ peerId: running.network.peerId, country: exit.country, source: bindAddress });
    }

    const whoami = await composition.startService("whoami", () => {
      const server = startWhoamiServer(config.whoamiPort);
      return { port: server.port, stop: () => server.shutdown() };
    });

    const servers = demoServers(config);
    const proxyConfig = demoProxyConfig(hubAddress, servers);
    const proxy = await composition.startService("proxy", () => startProxy(proxyConfig, nodes));

    const admin = config.adminPort
      ? await composition.startService("admin-api", () => {
        const server = new AdminServer(config.adminPort!);
        registerAdminRoutes(server, {
          control: proxy.control,
          usage: proxy.node.usage,
          transportOf: proxy.transportOf,
          ...(config.adminToken ? { token: config.adminToken } : {}),
        });
        server.start();
        return server;
      })
      : undefined;
    return {
      role: "demo" as const,
      servers: proxy.listeners.map((listener, i) => ({
        port: listener.address.port,
        country: servers[i]!.country,
      })),
      whoamiPort: whoami.port,
      hub: hubAddress,
      exits,
      proxyPeerId: proxy.network.peerId,
      control: proxy.control,
      adminUrl: admin?.baseUrl(),
    };
  });
}
