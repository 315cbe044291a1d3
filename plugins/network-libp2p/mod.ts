/**
 * `@p2proxy/network-libp2p`: the libp2p node (TCP, noise, yamux, identify,
 * ping, circuit relay transport) as the `network`, `dialer` and
 * `stream-opener` capabilities.
 *
 * @module
 */
import { z } from "zod";
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import { Libp2pNetwork } from "./libp2p_network.ts";
import { MAX_CONNECTIONS } from "./constants.ts";

export { Libp2pNetwork } from "./libp2p_network.ts";
export type { NetworkOptions } from "./libp2p_network.ts";

/**
 * js-libp2p's logger (the `debug` package) lists the whole environment at
 * import time (`Object.keys(process.env)`), which Deno only allows with
 * unrestricted `--allow-env`: no narrower grant works.
 */
export const LIBP2P_ENV: readonly string[] = ["*"];

const options = z.strictObject({
  /** libp2p listen multiaddrs (the CLI fills them from the role's `listen_addrs`). */
  listen: z.array(z.string().min(1)).default(["/ip4/127.0.0.1/tcp/0"]),
  /** Addresses to advertise instead of the observed ones. */
  announce: z.array(z.string().min(1)).default([]),
  /** Open connections the node keeps. */
  max_connections: z.number().int().positive().default(MAX_CONNECTIONS),
});

/** The plugin. */
export const plugin = definePlugin({
  name: "@p2proxy/network-libp2p",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "The libp2p node: TCP, noise, yamux, identify, ping, circuit relay v2 transport.",
  provides: ["network", "dialer", "stream-opener"],
  requires: ["identity"],
  options,
  permissions: (o) => ({
    net: o.listen.flatMap((address) => {
      const match = /^\/(ip4|ip6)\/([^/]+)\/tcp\/(\d+)/.exec(address);
      return match ? [`${match[1] === "ip6" ? `[${match[2]}]` : match[2]}:${match[3]}`] : [];
    }),
    env: [...LIBP2P_ENV],
  }),
  create: async (o, ctx) => {
    const network = await Libp2pNetwork.create(ctx.get("identity"), {
      listen: o.listen,
      announce: o.announce,
      maxConnections: o.max_connections,
    });
    return {
      provides: { network, dialer: network, "stream-opener": network },
      start: () => network.start(),
      stop: () => network.stop(),
    };
  },
});

export default plugin;
