/**
 * The all-in-one demo (SPEC §1): two exits and a proxy in one process, on
 * loopback, with throwaway identities and no files written. Exits leave from
 * 127.0.0.2 and 127.0.0.3 when the system allows binding them, so the whoami
 * server shows which exit carried a request.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { loadExitConfig, loadProxyConfig } from "../core/config/mod.ts";
import type { EventSink } from "../core/ports/event_sink.ts";
import type { Clock } from "../core/ports/clock.ts";
import { FileIdentity } from "../plugins/identity-file/file_identity.ts";
import { Libp2pNetwork } from "../plugins/network-libp2p/libp2p_network.ts";
import { InMemoryStickyStore } from "../plugins/sticky-memory/memory_sticky_store.ts";
import { ExitNode } from "./exit_node.ts";
import { NullDirectory } from "./null_directory.ts";
import { ProxyNode } from "./proxy_node.ts";
import { startWhoamiServer, type WhoamiServer } from "./whoami_server.ts";

const logger = getLogger(["p2proxy", "demo"]);

/** The demo's egress exception: loopback, for the demo only. */
export const DEMO_ALLOWED_CIDRS = ["127.0.0.0/8"];

/** Addresses the demo exits leave from, when they can be bound. */
const EXIT_SOURCES = ["127.0.0.2", "127.0.0.3"];

/** Demo settings. */
export interface DemoOptions {
  readonly socksPort: number;
  /** 0 picks a free port. */
  readonly whoamiPort: number;
  readonly clock: Clock;
  readonly events: EventSink;
}

/** A running demo. */
export interface Demo {
  readonly socksPort: number;
  readonly whoamiPort: number;
  readonly exits: readonly { peerId: string; source: string | undefined }[];
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

/** Starts two exits, a proxy pinned to both (with failover) and the whoami server. */
export async function startDemo(options: DemoOptions): Promise<Demo> {
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  };
  try {
    const exits = [];
    for (const source of EXIT_SOURCES) {
      const bindAddress = canBind(source) ? source : undefined;
      const network = await Libp2pNetwork.create(await FileIdentity.generate(), {
        listen: ["/ip4/127.0.0.1/tcp/0"],
        announce: [],
      });
      await network.start();
      stops.push(() => network.stop());
      const config = loadExitConfig(
        JSON.stringify({
          egress: { allow_cidrs: DEMO_ALLOWED_CIDRS },
          ...(bindAddress ? { bind_address: bindAddress } : {}),
        }),
        { source: "demo-exit.json" },
      );
      const exit = await ExitNode.start({ config, network, events: options.events });
      stops.push(() => exit.stop());
      exits.push({ peerId: network.peerId, source: bindAddress, address: network.addresses()[0]! });
    }

    const whoami: WhoamiServer = startWhoamiServer(options.whoamiPort);
    stops.push(() => whoami.shutdown());

    const network = await Libp2pNetwork.create(await FileIdentity.generate(), {
      listen: ["/ip4/127.0.0.1/tcp/0"],
      announce: [],
    });
    await network.start();
    stops.push(() => network.stop());
    const config = loadProxyConfig(
      JSON.stringify({
        servers: [{ port: options.socksPort, destination_peers: exits.map((e) => e.address) }],
      }),
      { source: "demo-proxy.json" },
    );
    const proxy = await ProxyNode.start({
      config,
      network,
      directory: new NullDirectory(),
      clock: options.clock,
      stickyStore: new InMemoryStickyStore(),
      events: options.events,
    });
    const socksPort = proxy.listeners[0]!.address.port;
    let stopped = false;
    return {
      socksPort,
      whoamiPort: whoami.port,
      exits: exits.map(({ peerId, source }) => ({ peerId, source })),
      async stop(graceMs = 0) {
        if (stopped) return;
        stopped = true;
        await proxy.stop(graceMs);
        await stopAll();
      },
    };
  } catch (error) {
    logger.error("The demo failed to start: {error}", { error: String(error) });
    await stopAll();
    throw error;
  }
}
