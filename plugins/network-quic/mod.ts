/**
 * `@p2proxy/network-quic`: sessions over Deno's native QUIC, beside the libp2p node it wraps
 * (docs/proxy-behaviour.md#quic). It provides `network` and `stream-opener` by wrapping the
 * libp2p plugin's: libp2p stays the control plane (dialing, identify, the hub, relay, pings)
 * and carries the exit's QUIC offer on its noise-authenticated connection; only the streams
 * move. An exit serves QUIC on the UDP port of its first TCP listen address; a proxy uses QUIC
 * for an exit that offers it and falls back to libp2p streams otherwise. The config's `quic:
 * auto | always | never` (proxy and exit) chooses; hubs never serve QUIC.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { z } from "zod";
import type { QuicMode } from "../../core/config/common.ts";
import { hostPort } from "../../core/host_port.ts";
import { definePlugin, PLUGIN_API_VERSION, type RoleSettings } from "../../core/plugin/contract.ts";
import type { PermissionSet } from "../../core/plugin/permissions.ts";
import { isRelayedAddress } from "../../core/ids.ts";

export type { QuicNetwork, QuicNetworkOptions } from "./quic_network.ts";

const logger = getLogger(["p2proxy", "network", "quic"]);

/** Deno's QUIC is unstable: the API exists only with `--unstable-net` (or deno.json `unstable`). */
export const QUIC_UNSTABLE_FEATURE = "net";

/**
 * True when this Deno process has QUIC (it was started with `--unstable-net`).
 *
 * @example
 * ```ts
 * if (!quicAvailable()) console.warn("run with --unstable-net for QUIC");
 * ```
 */
export function quicAvailable(): boolean {
  return typeof (Deno as { QuicEndpoint?: unknown }).QuicEndpoint === "function";
}

/**
 * The UDP `host:port` an exit serves QUIC on: the host and port of its first TCP listen address
 * (the same number, so one firewall rule and one net permission cover both), or undefined for
 * an exit reachable only through a relay.
 *
 * @example
 * ```ts
 * quicListenOf(["/ip4/0.0.0.0/tcp/4002"]); // "0.0.0.0:4002"
 * ```
 */
export function quicListenOf(listenAddrs: readonly string[]): string | undefined {
  for (const address of listenAddrs) {
    if (isRelayedAddress(address)) continue;
    const match = /^\/ip([46])\/([^/]+)\/tcp\/(\d+)/.exec(address);
    if (match) return hostPort(match[2]!, Number(match[3]));
  }
  return undefined;
}

/**
 * The TCP `host:port` an exit serves TLS on by default: the QUIC address's host, and the port
 * after it (the libp2p node has the port itself on TCP); port 0 stays 0.
 *
 * @example
 * ```ts
 * tlsListenOf("0.0.0.0:4002"); // "0.0.0.0:4003"
 * ```
 */
export function tlsListenOf(quicListen: string): string {
  const { hostname, port } = splitHostPort(quicListen);
  return hostPort(hostname, port === 0 || port === 65_535 ? 0 : port + 1);
}

/** `host:port` (IPv6 in brackets) → its parts. */
function splitHostPort(text: string): { hostname: string; port: number } {
  const match = /^\[?([^\]]*)\]?:(\d+)$/.exec(text);
  if (!match) throw new TypeError(`"${text}" is not host:port.`);
  return { hostname: match[1]!, port: Number(match[2]) };
}

const hostPortPattern = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):\d{1,5}$/;

const options = z.strictObject({
  /** `auto`: QUIC where both sides have it; `always`: no fallback; `never`: libp2p only. */
  mode: z.enum(["auto", "always", "never"]).default("auto"),
  /** UDP `host:port` to serve QUIC on (an exit; the config's first TCP listen address). */
  listen: z.string().regex(hostPortPattern, "expected host:port").optional(),
  /**
   * `auto`: a proxy carries sessions over the exit's TLS listener when it offers one, and an exit
   * serves one on `tls_listen`; `never`: QUIC streams only.
   */
  tls: z.enum(["auto", "never"]).default("auto"),
  /** TCP `host:port` of an exit's TLS listener (the config's first TCP listen port + 1). */
  tls_listen: z.string().regex(hostPortPattern, "expected host:port").optional(),
  /** Deadline of asking an exit for its offer and connecting, in seconds. */
  connect_timeout_secs: z.number().positive().max(60).default(2),
});

/** The plugin's options a role's config implies: its `quic` key, and an exit's listen address. */
export function quicOptionsOf(settings: RoleSettings): Record<string, unknown> | undefined {
  switch (settings.role) {
    case "proxy":
      return { mode: settings.config.quic ?? "auto", tls: settings.config.tls ?? "auto" };
    case "exit": {
      const mode: QuicMode = settings.config.quic ?? "auto";
      const listen = quicListenOf(settings.config.listenAddrs);
      // A relay-only exit has no address a proxy could reach over UDP.
      if (listen === undefined) return { mode: "never" };
      const tls = settings.config.tls ?? "auto";
      return tls === "never"
        ? { mode, listen, tls }
        : { mode, listen, tls, tls_listen: tlsListenOf(listen) };
    }
    default:
      // Hubs (and the demo's own plugins) carry no sessions.
      return { mode: "never" };
  }
}

/**
 * What QUIC needs with these options: the unstable net API, and (an exit) its UDP port; nothing
 * with `mode: never`.
 *
 * @example
 * ```ts
 * quicPermissions({ mode: "auto", listen: "0.0.0.0:4002" }); // { net: ["0.0.0.0:4002"], unstable: ["net"] }
 * ```
 */
export function quicPermissions(
  o: {
    readonly mode: QuicMode;
    readonly listen?: string | undefined;
    readonly tls_listen?: string | undefined;
  },
): PermissionSet {
  if (o.mode === "never") return {};
  const net = [o.listen, o.tls_listen].filter((address) => address !== undefined);
  return { ...(net.length > 0 ? { net } : {}), unstable: [QUIC_UNSTABLE_FEATURE] };
}

/** The plugin. */
export const plugin = definePlugin({
  name: "@p2proxy/network-quic",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "Sessions over Deno's native QUIC beside libp2p, which stays the control plane.",
  provides: ["network", "stream-opener"],
  wraps: ["network", "stream-opener"],
  wants: ["event-sink"],
  options,
  configure: quicOptionsOf,
  permissions: (o) => quicPermissions(o),
  create: async (o, ctx) => {
    const inner = ctx.get("network");
    if (o.mode === "never") return { provides: { network: inner, "stream-opener": inner } };
    const available = quicAvailable();
    if (!available) {
      const message = "QUIC needs Deno's unstable net API: run with --unstable-net " +
        "(`p2proxy permissions` prints the line)";
      if (o.mode === "always") throw new Error(`${message}, or set quic: auto.`);
      logger.warn(`${message}; sessions go over libp2p streams.`);
    }
    const { QuicNetwork } = await import("./quic_network.ts");
    const listen = o.listen;
    const network = new QuicNetwork(inner, {
      mode: o.mode,
      quicAvailable: available,
      connectTimeoutMs: Math.round(o.connect_timeout_secs * 1000),
      tls: o.tls === "auto",
      ...(ctx.find("event-sink") ? { events: ctx.find("event-sink")! } : {}),
      ...(listen !== undefined && available
        ? {
          serve: () =>
            startServer(
              splitHostPort(listen),
              o.mode as "auto" | "always",
              o.tls_listen === undefined ? undefined : splitHostPort(o.tls_listen),
            ),
        }
        : {}),
    });
    // An exit's endpoint and offer protocol come up here, before the libp2p node it wraps starts
    // listening (plugins start after all are created): a proxy that reaches the exit in its
    // first moment finds QUIC served instead of falling back to libp2p streams for good.
    await network.start();
    return {
      provides: { network, "stream-opener": network },
      stop: () => network.stop(),
    };
  },
});

/** Starts an exit's endpoint; in `auto` a failure to bind is a warning, not a failed start. */
async function startServer(
  address: { hostname: string; port: number },
  mode: "auto" | "always",
  tlsListen: { hostname: string; port: number } | undefined,
) {
  const { QuicServer } = await import("./quic_server.ts");
  try {
    const server = await QuicServer.start({
      ...address,
      ...(tlsListen === undefined
        ? {}
        : { tlsHostname: tlsListen.hostname, tlsPort: tlsListen.port }),
    });
    logger.info("Serving QUIC on UDP {address}.", {
      address: hostPort(server.address.hostname, server.address.port),
    });
    return server;
  } catch (error) {
    const what = `Cannot serve QUIC on UDP ${hostPort(address.hostname, address.port)}: ${
      error instanceof Error ? error.message : error
    }`;
    if (mode === "always") throw new Error(`${what}. Free the port, or set quic: auto.`);
    if (address.port !== 0) {
      // The TCP port's number may be taken for UDP by someone else: any port will do.
      logger.warn("{what}; trying a port of the OS's choice.", { what });
      return await startServer({ ...address, port: 0 }, mode, tlsListen);
    }
    logger.warn("{what}; proxies will use libp2p streams.", { what });
    return undefined;
  }
}

export default plugin;
