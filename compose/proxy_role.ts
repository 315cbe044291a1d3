/**
 * The proxy role, composed (docs/proxy-behaviour.md): the discovery actor and the session router
 * on the network, directory, dialer, stream opener and sticky store the plugins provide; the doors
 * (`inbound` plugins) on their ports; the exit control the operator drives (the terminal UI and the
 * admin API, which is served on the metrics port when that is loopback).
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { PeerId } from "../core/ids.ts";
import type { ProxyConfig } from "../core/config/proxy_config.ts";
import type { ExitControl } from "../core/ports/exit_control.ts";
import type { SessionRouter } from "../core/ports/inbound.ts";
import type { NetworkNode } from "../core/ports/network.ts";
import { adminApiEnabled, adminTokenWarning, registerAdminRoutes } from "../proxy/admin_api.ts";
import { ProxyExitControl } from "../proxy/exit_control.ts";
import { InboundListeners } from "../proxy/inbound_listeners.ts";
import { ProxyNode } from "../proxy/proxy_node.ts";
import { type ComposeOptions, composeRole, type RunningRole } from "./role.ts";

const logger = getLogger(["p2proxy", "proxy"]);

/** A running proxy. */
export interface ProxyRole extends RunningRole {
  /** The proxy role. */
  readonly role: "proxy";
  /** The libp2p node. */
  readonly network: NetworkNode;
  /** The discovery actor and the session router. */
  readonly node: ProxyNode;
  /** The listeners of `servers[]`, in config order (their bound addresses). */
  readonly doors: InboundListeners;
  /** Opens confirmed exit sessions: what the doors ask, and what a program without a door may. */
  readonly router: SessionRouter;
  /** The bound address of each server, in config order. */
  readonly listeners: readonly { readonly address: Deno.NetAddr }[];
  /**
   * The operator's view of the exits: listeners, candidates, a choice by hand, back to automatic
   * (what the admin API and the terminal UI drive).
   */
  readonly control: ExitControl;
  /** The transport carrying sessions to an exit (`quic`, `libp2p`), for the admin API. */
  readonly transportOf: (peer: PeerId) => string | undefined;
}

/**
 * Starts a proxy from its config (the object `loadProxyConfig` makes of a config file) and a
 * plugin list.
 *
 * @example
 * ```ts
 * const proxy = await startProxy(loadProxyConfig(JSON.stringify({ servers: [{ port: 1080 }] })));
 * proxy.listeners[0]!.address.port; // 1080
 * await proxy.stop();
 * ```
 */
export function startProxy(config: ProxyConfig, options: ComposeOptions = {}): Promise<ProxyRole> {
  return composeRole({ role: "proxy", config }, options, async (composition, events) => {
    const network = composition.get("network");
    const authenticator = composition.find("authenticator");
    if (!authenticator) {
      logger.warn(
        "AUTHENTICATION IS OFF: this proxy sends no token; only hubs and exits without auth will serve it.",
      );
    }
    const directory = composition.get("peer-directory");
    const streams = composition.get("stream-opener");
    const quotaStore = composition.find("quota-store");
    const node = await composition.startService("proxy-node", () =>
      ProxyNode.start({
        config,
        network,
        dialer: composition.get("dialer"),
        streams,
        directory,
        clock: composition.get("clock"),
        stickyStore: composition.get("sticky-store"),
        ...(quotaStore ? { quotaStore } : {}),
        events,
        ...(authenticator ? { authenticator } : {}),
        ...(config.bootstrap[0] ? { relayAddress: config.bootstrap[0] } : {}),
      }));
    const doors = await composition.startService("inbound-listeners", () =>
      InboundListeners.start({
        servers: config.servers,
        protocols: composition.all("inbound"),
        router: node.router,
        events,
      }));
    const control = new ProxyExitControl({ actor: node.actor, servers: config.servers, directory });
    const routes = composition.find("http-routes");
    if (routes && adminApiEnabled(config)) {
      registerAdminRoutes(routes, {
        control,
        transportOf: (peer) => streams.transportOf?.(peer),
        usage: node.usage,
        ...(config.adminToken === undefined ? {} : { token: config.adminToken }),
      });
      const warning = adminTokenWarning(config);
      if (warning) logger.warn(warning);
    } else if (routes && config.metricsPort > 0) {
      logger.warn("The admin API is off: metrics_bind {bind} is not loopback.", {
        bind: config.metricsBind,
      });
    }
    return {
      role: "proxy" as const,
      network,
      node,
      doors,
      router: node.router,
      listeners: doors.listeners,
      control,
      transportOf: (peer: PeerId) => streams.transportOf?.(peer),
    };
  });
}
