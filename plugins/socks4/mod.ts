/**
 * `@p2proxy/socks4`: the SOCKS4/4a door (docs/proxy-behaviour.md#socks4). Provides the
 * `inbound` capability for `servers[].protocol: socks4`, and serves a `mixed` port's
 * connections that start with `0x04`. The user id is read with the username grammar. No options.
 *
 * @module
 */
import { z } from "zod";
import { SOCKS4_VERSION } from "../../core/codec/socks4.ts";
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import type { InboundProtocol } from "../../core/ports/inbound.ts";
import { socks4Handler } from "./socks4_session.ts";

export { authenticateUserId, serveSocks4, socks4Handler } from "./socks4_session.ts";

/** The SOCKS4 door as the `inbound` capability. */
export const SOCKS4_INBOUND: InboundProtocol = {
  protocol: "socks4",
  firstBytes: [SOCKS4_VERSION],
  handler: socks4Handler,
};

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/socks4",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "The SOCKS4/4a door: CONNECT, the user id read for routing (servers[].protocol).",
  provides: ["inbound"],
  options: z.object({}).strict(),
  create: () => ({ provides: { inbound: SOCKS4_INBOUND } }),
});

export default plugin;
