/**
 * `@p2proxy/network-libp2p`: the libp2p node (TCP, noise, yamux, identify,
 * ping, circuit relay transport) as the `network`, `dialer` and
 * `stream-opener` capabilities; with `relay_server`, also a circuit relay v2
 * server (the hub's), whose default limits are never unlimited. Its options
 * come from the role's `listen_addrs`, `announce_addrs`, `relay` and
 * `bootstrap` ({@link networkOptionsOf}).
 *
 * @module
 */
import { multiaddrHostPorts } from "../../core/host_port.ts";
import { z } from "zod";
import { isUnspecifiedAddress } from "../../core/config/common.ts";
import type { PermissionSet } from "../../core/plugin/permissions.ts";
import {
  DEFAULT_MAX_RESERVATIONS,
  DEFAULT_RELAY_DATA_LIMIT_BYTES,
  DEFAULT_RELAY_DURATION_LIMIT_SECS,
} from "../../core/config/hub_config.ts";
import { createEgressPolicy } from "../../core/domain/egress_policy.ts";
import { definePlugin, PLUGIN_API_VERSION, type RoleSettings } from "../../core/plugin/contract.ts";
import { MAX_CONNECTIONS } from "./constants.ts";

// Types only: the libp2p runtime is imported when the plugin is created, so
// commands that never start a node (`check`, `id`, `plugins`…) start fast and
// need no `--allow-env` (libp2p's logger reads the whole environment).
export type { Libp2pNetwork, NetworkOptions } from "./libp2p_network.ts";
export type { RelayLimits, RelayServerControl, RelayServerOptions } from "./relay_server.ts";

/**
 * js-libp2p's logger (the `debug` package) lists the whole environment at
 * import time (`Object.keys(process.env)`), which Deno only allows with
 * unrestricted `--allow-env`: no narrower grant works.
 */
export const LIBP2P_ENV: readonly string[] = ["*"];

/**
 * libp2p expands a wildcard listen address (`0.0.0.0`, `::`) into one address
 * per interface with `os.networkInterfaces()`, which Deno guards as this sys
 * permission.
 */
export const WILDCARD_LISTEN_SYS: readonly string[] = ["networkInterfaces"];

/** True when a listen multiaddr binds every interface (`/ip4/0.0.0.0/…`, `/ip6/::/…`). */
function isWildcardListen(address: string): boolean {
  const host = /^\/ip[46]\/([^/]+)/.exec(address)?.[1];
  return host !== undefined && isUnspecifiedAddress(host);
}

/**
 * What the node needs for these listen addresses: to listen on each, the
 * whole environment (libp2p's logger), and the interface list when one of
 * them is a wildcard.
 *
 * @example
 * ```ts
 * networkPermissions(["/ip4/0.0.0.0/tcp/0"]);
 * // { net: ["0.0.0.0:0"], env: ["*"], sys: ["networkInterfaces"] }
 * ```
 */
export function networkPermissions(listen: readonly string[]): PermissionSet {
  return {
    net: multiaddrHostPorts(listen),
    env: [...LIBP2P_ENV],
    ...(listen.some(isWildcardListen) ? { sys: [...WILDCARD_LISTEN_SYS] } : {}),
  };
}

const options = z.strictObject({
  /** libp2p listen multiaddrs (the CLI fills them from the role's `listen_addrs`). */
  listen: z.array(z.string().min(1)).default(["/ip4/127.0.0.1/tcp/0"]),
  /** Addresses to advertise instead of the observed ones. */
  announce: z.array(z.string().min(1)).default([]),
  /** Open connections the node keeps. */
  max_connections: z.number().int().positive().default(MAX_CONNECTIONS),
  /**
   * DCUtR + AutoNAT: upgrade relayed connections to direct ones when both peers can. Off by
   * default: see docs/proxy-behaviour.md#hole-punching for what works and what does not yet.
   */
  hole_punching: z.boolean().default(false),
  /** Run a circuit relay v2 server (the hub fills it from its `relay` config). */
  relay_server: z.strictObject({
    max_reservations: z.number().int().positive().default(DEFAULT_MAX_RESERVATIONS),
    /** Per relayed connection, for peers without raised limits; never 0 (an open relay). */
    default_data_limit_bytes: z.number().int().positive().default(DEFAULT_RELAY_DATA_LIMIT_BYTES),
    default_duration_limit_secs: z.number().positive().max(4_294_967)
      .default(DEFAULT_RELAY_DURATION_LIMIT_SECS),
  }).optional(),
});

/**
 * The node's options a role's config implies: listen and announce addresses, the hub's relay
 * server (its `relay` limits, mapped here and nowhere else), and an exit's relay listens.
 */
export function networkOptionsOf(settings: RoleSettings): Record<string, unknown> | undefined {
  switch (settings.role) {
    case "proxy":
      return { listen: [...settings.config.listenAddrs], announce: [] };
    case "hub": {
      const { relay, listenAddrs, announceAddrs } = settings.config;
      return {
        listen: [...listenAddrs],
        announce: [...announceAddrs],
        relay_server: {
          max_reservations: relay.maxReservations,
          default_data_limit_bytes: relay.defaultDataLimitBytes,
          default_duration_limit_secs: relay.defaultDurationLimitMs / 1000,
        },
      };
    }
    case "exit": {
      const { listenAddrs, announceAddrs, bootstrap } = settings.config;
      const circuits = usesRelay(settings.config.relay, announceAddrs)
        ? bootstrap.map((hub) => `${hub}/p2p-circuit`)
        : [];
      // A circuit may already be in listen_addrs (a relay-only exit): list each address once.
      return { listen: [...new Set([...listenAddrs, ...circuits])], announce: [...announceAddrs] };
    }
    default:
      return undefined;
  }
}

/**
 * Whether an exit reserves a slot on its hubs' relays: `always`, `never`, or
 * (`auto`) unless it announces a public IP address — an exit that does not
 * say how the internet reaches it is assumed to be behind NAT.
 *
 * @example
 * ```ts
 * usesRelay("auto", ["/ip4/127.0.0.1/tcp/4002"]); // true: loopback is not public
 * ```
 */
export function usesRelay(mode: "auto" | "always" | "never", announce: readonly string[]): boolean {
  if (mode !== "auto") return mode === "always";
  const publicPolicy = createEgressPolicy();
  return !announce.some((address) => {
    const ip = /^\/ip[46]\/([^/]+)/.exec(address)?.[1];
    return ip !== undefined && publicPolicy.check(ip, 443).allowed;
  });
}

/** The plugin. */
export const plugin = definePlugin({
  name: "@p2proxy/network-libp2p",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "The libp2p node: TCP, noise, yamux, identify, ping, circuit relay v2 transport.",
  provides: ["network", "dialer", "stream-opener"],
  requires: ["identity"],
  options,
  configure: networkOptionsOf,
  permissions: (o) => networkPermissions(o.listen),
  create: async (o, ctx) => {
    const { Libp2pNetwork } = await import("./libp2p_network.ts");
    const network = await Libp2pNetwork.create(ctx.get("identity"), {
      listen: o.listen,
      announce: o.announce,
      maxConnections: o.max_connections,
      holePunching: o.hole_punching,
      ...(o.relay_server
        ? {
          relayServer: {
            maxReservations: o.relay_server.max_reservations,
            defaultDataLimitBytes: o.relay_server.default_data_limit_bytes,
            defaultDurationLimitMs: Math.round(o.relay_server.default_duration_limit_secs * 1000),
          },
        }
        : {}),
    });
    return {
      provides: { network, dialer: network, "stream-opener": network },
      start: () => network.start(),
      stop: () => network.stop(),
    };
  },
});

export default plugin;
