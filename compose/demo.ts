/**
 * The all-in-one demo: a hub, two exits and a proxy in one
 * process, on loopback, with throwaway identities and no files written.
 * The exits register with the hub (one in NL, one in DE) and leave from
 * 127.0.0.2 and 127.0.0.3 when the system allows binding them, so the
 * whoami server shows which exit carried a request. The proxy serves two
 * ports that discover their exit by country.
 *
 * @module
 */
import { loadExitConfig, loadHubConfig, loadProxyConfig } from "../core/config/mod.ts";
import type { Multiaddr } from "../core/ids.ts";
import type { Clock } from "../core/ports/clock.ts";
import type { EventSink } from "../core/ports/event_sink.ts";
import type { Resolver } from "../core/ports/resolver.ts";
import { FileIdentity } from "../plugins/identity-file/file_identity.ts";
import { Libp2pNetwork, type NetworkOptions } from "../plugins/network-libp2p/libp2p_network.ts";
import { InMemoryRegistryStore } from "../plugins/registry-memory/memory_registry_store.ts";
import { InMemoryStickyStore } from "../plugins/sticky-memory/memory_sticky_store.ts";
import { ExitRegistrar } from "../exit/exit_registrar.ts";
import { HubDirectory } from "../plugins/directory-hub/hub_directory.ts";
import { ExitNode } from "../exit/exit_node.ts";
import { HubNode } from "../hub/hub_node.ts";
import { ProxyNode } from "../proxy/proxy_node.ts";
import { startWhoamiServer } from "./whoami_server.ts";

/** The demo's egress exception: loopback, for the demo only. */
export const DEMO_ALLOWED_CIDRS = ["127.0.0.0/8", "::1/128"];

/** The demo's exits: where each says it is, and the address it leaves from. */
const DEMO_EXITS = [
  { country: "NL", city: "Amsterdam", source: "127.0.0.2" },
  { country: "DE", city: "Berlin", source: "127.0.0.3" },
] as const;

/** Demo settings. */
export interface DemoOptions {
  /** The first SOCKS5 port (exits in NL); the next one serves exits in DE. */
  readonly socksPort: number;
  /** 0 picks a free port. */
  readonly whoamiPort: number;
  readonly clock: Clock;
  readonly events: EventSink;
  /** How the exits resolve destination names (the system's resolver, or a static map under tests). */
  readonly resolver: Resolver;
}

/** One SOCKS port of the demo and what it asks for. */
export interface DemoServer {
  readonly port: number;
  readonly country: string;
}

/** A running demo. */
export interface Demo {
  readonly servers: readonly DemoServer[];
  readonly whoamiPort: number;
  readonly hub: string;
  readonly exits: readonly { peerId: string; country: string; source: string | undefined }[];
  stop(graceMs?: number): Promise<void>;
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

/** Starts the hub, the two exits (registered), the whoami server and the proxy. */
export async function startDemo(options: DemoOptions): Promise<Demo> {
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  };
  const network = async (extra: Partial<NetworkOptions> = {}) => {
    const node = await Libp2pNetwork.create(await FileIdentity.generate(), {
      listen: ["/ip4/127.0.0.1/tcp/0"],
      announce: [],
      ...extra,
    });
    await node.start();
    stops.push(() => node.stop());
    return node;
  };
  try {
    const hubConfig = loadHubConfig("{}", { source: "demo-hub.json" });
    const hubNetwork = await network({
      relayServer: {
        maxReservations: hubConfig.relay.maxReservations,
        defaultDataLimitBytes: hubConfig.relay.defaultDataLimitBytes,
        defaultDurationLimitMs: hubConfig.relay.defaultDurationLimitMs,
      },
    });
    const hub = await HubNode.start({
      config: hubConfig,
      network: hubNetwork,
      registry: new InMemoryRegistryStore(),
      clock: options.clock,
      events: options.events,
    });
    stops.push(() => hub.stop());
    const hubAddress = hubNetwork.addresses()[0]! as Multiaddr;

    const exits = [];
    for (const exit of DEMO_EXITS) {
      const bindAddress = canBind(exit.source) ? exit.source : undefined;
      const config = loadExitConfig(
        JSON.stringify({
          bootstrap: [hubAddress],
          attributes: { country: exit.country, city: exit.city, bandwidth: "1Gbps" },
          egress: { allow_cidrs: DEMO_ALLOWED_CIDRS },
          ...(bindAddress ? { bind_address: bindAddress } : {}),
        }),
        { source: "demo-exit.json" },
      );
      const exitNetwork = await network();
      const exitNode = await ExitNode.start({
        config,
        network: exitNetwork,
        events: options.events,
        resolver: options.resolver,
      });
      stops.push(() => exitNode.stop());
      const registrar = ExitRegistrar.start({
        network: exitNetwork,
        hubs: config.bootstrap,
        attributes: config.attributes,
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        clock: options.clock,
      });
      stops.push(() => registrar.stop());
      await registrar.whenRegistered(AbortSignal.timeout(10_000));
      exits.push({ peerId: exitNetwork.peerId, country: exit.country, source: bindAddress });
    }

    const whoami = startWhoamiServer(options.whoamiPort);
    stops.push(() => whoami.shutdown());

    const servers = DEMO_EXITS.map((exit, i) => ({
      port: options.socksPort === 0 ? 0 : options.socksPort + i,
      country: exit.country,
    }));
    const proxyConfig = loadProxyConfig(
      JSON.stringify({ bootstrap: [hubAddress], servers }),
      { source: "demo-proxy.json" },
    );
    const proxyNetwork = await network();
    const proxy = await ProxyNode.start({
      config: proxyConfig,
      network: proxyNetwork,
      directory: new HubDirectory({ network: proxyNetwork, hubs: proxyConfig.bootstrap }),
      clock: options.clock,
      stickyStore: new InMemoryStickyStore(),
      events: options.events,
      relayAddress: hubAddress,
    });
    let stopped = false;
    return {
      servers: proxy.listeners.map((l, i) => ({
        port: l.address.port,
        country: servers[i]!.country,
      })),
      whoamiPort: whoami.port,
      hub: hubAddress,
      exits,
      async stop(graceMs = 0) {
        if (stopped) return;
        stopped = true;
        await proxy.stop(graceMs);
        await stopAll();
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
