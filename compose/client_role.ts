/**
 * The client role, composed (docs/client.md): a proxy with no doors. The same plan, plugins and
 * services as `p2proxy proxy` — the network, the hubs' directory, the authenticator, the
 * discovery actor and the session router — but no listener of any kind: the libp2p node only
 * dials (`listen_addrs: []`), no SOCKS port, no metrics or admin port. A program opens sessions
 * through the router, each with its own exit selection.
 *
 * @module
 */
import type { ClientConfig } from "../core/config/client_config.ts";
import { DEFAULT_BIND_ADDRESS, DEFAULT_KEYPAIR_PATH } from "../core/config/common.ts";
import type { ProxyConfig } from "../core/config/proxy_config.ts";
import type { PluginDefinition } from "../core/plugin/contract.ts";
import type { SessionRouter } from "../core/ports/inbound.ts";
import type { NetworkNode } from "../core/ports/network.ts";
import type { PeerDirectory } from "../core/ports/peer_directory.ts";
import { BUILTIN_PLUGINS } from "../plugins/builtin.ts";
import { ProxyNode } from "../proxy/proxy_node.ts";
import type { PluginList } from "./plan.ts";
import { type ComposeOptions, composeRole, type RunningRole } from "./role.ts";

/** A running client: a proxy's node and router, without doors. */
export interface ClientRole extends RunningRole {
  /** A client is composed as a proxy (its plugins configure themselves as for one). */
  readonly role: "proxy";
  /** The libp2p node (dial-only). */
  readonly network: NetworkNode;
  /** Where exits are found; also asked for an exit's attributes. */
  readonly directory: PeerDirectory;
  /** Opens confirmed exit sessions, each with its own selection (`SessionRequest.selection`). */
  readonly router: SessionRouter;
}

/**
 * The built-ins a client composes from: all but the providers of an HTTP endpoint (metrics,
 * admin), since a client binds no port.
 */
const CLIENT_PLUGINS: PluginList = {
  plugins: BUILTIN_PLUGINS.filter((plugin: PluginDefinition) =>
    !plugin.provides.some((capability) => capability === "http-routes")
  ),
  builtin: true,
};

/**
 * The proxy config a client is planned from: no servers, no listen address, no metrics port;
 * a throwaway identity unless `keypairPath` is given; sticky pools in memory.
 *
 * @example
 * ```ts
 * clientProxyConfig(loadClientConfig({ bootstrap: [hub] })).listenAddrs; // []
 * ```
 */
export function clientProxyConfig(config: ClientConfig): ProxyConfig {
  const network = config.transport.includes("/")
    ? config.transport
    : `@p2proxy/${config.transport}`;
  return {
    servers: [],
    bootstrap: config.bootstrap,
    allowOpenProxy: false,
    listenAddrs: [],
    logLevel: "info",
    metricsPort: 0,
    metricsBind: DEFAULT_BIND_ADDRESS,
    stateDir: ".",
    keypairPath: config.keypairPath ?? DEFAULT_KEYPAIR_PATH,
    plugins: {},
    providers: {
      "identity": config.keypairPath ? "@p2proxy/identity-file" : "@p2proxy/identity-memory",
      "sticky-store": "@p2proxy/sticky-memory",
      "network": network,
      "dialer": network,
      "stream-opener": network,
    },
    ...(config.auth ? { auth: config.auth } : {}),
    ...(config.apiKey === undefined ? {} : { apiKey: config.apiKey }),
    warnings: [],
  };
}

/**
 * Starts a client from its config (`loadClientConfig`'s output) and a plugin list (default:
 * the built-ins without HTTP endpoints).
 *
 * @example
 * ```ts
 * const client = await startClient(loadClientConfig({ bootstrap: [hub], exit: { country: "NL" } }));
 * const outcome = await client.router.open({ port: 0, host: "example.test", targetPort: 80, … });
 * await client.stop();
 * ```
 */
export function startClient(
  config: ClientConfig,
  options: ComposeOptions = {},
): Promise<ClientRole> {
  const proxyConfig = clientProxyConfig(config);
  const composeOptions: ComposeOptions = { plugins: options.plugins ?? CLIENT_PLUGINS };
  return composeRole(
    { role: "proxy", config: proxyConfig },
    options.given ? { ...composeOptions, given: options.given } : composeOptions,
    async (composition, events) => {
      const network = composition.get("network");
      const directory = composition.get("peer-directory");
      const authenticator = composition.find("authenticator");
      const node = await composition.startService("client-node", () =>
        ProxyNode.start({
          config: { servers: [] },
          network,
          dialer: composition.get("dialer"),
          streams: composition.get("stream-opener"),
          directory,
          clock: composition.get("clock"),
          stickyStore: composition.get("sticky-store"),
          events,
          ...(authenticator ? { authenticator } : {}),
          ...(config.bootstrap[0] ? { relayAddress: config.bootstrap[0] } : {}),
          selections: {
            max: config.maxSessions,
            idleMs: config.sessionIdleMs,
            openTimeoutMs: config.openTimeoutMs,
          },
        }));
      return { role: "proxy" as const, network, directory, router: node.router };
    },
  );
}
