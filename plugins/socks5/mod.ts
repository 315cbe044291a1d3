/**
 * `@p2proxy/socks5`: the SOCKS5 door (RFC 1928, RFC 1929 username/password;
 * docs/proxy-behaviour.md). Provides the `inbound` capability for `servers[].protocol: socks5`:
 * each accepted connection gets the handshake, a CONNECT through the proxy's session router, the
 * reply, and the relay. No options; each server's `users`, `handshake_timeout_secs` and
 * `idle_timeout_secs` come from the proxy config.
 *
 * @module
 */
import { z } from "zod";
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import type { InboundProtocol } from "../../core/ports/inbound.ts";
import { socks5Handler } from "./socks5_session.ts";

export { HandshakeError, type HandshakeResult, serverHandshake } from "./handshake.ts";
export {
  type ConnectFailureLine,
  connectFailureLine,
  serveSocks5,
  socks5Handler,
} from "./socks5_session.ts";

/** The SOCKS version byte every SOCKS5 greeting starts with. */
export const SOCKS5_VERSION = 0x05;

/** The SOCKS5 door as the `inbound` capability. */
export const SOCKS5_INBOUND: InboundProtocol = {
  protocol: "socks5",
  firstBytes: [SOCKS5_VERSION],
  handler: socks5Handler,
};

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/socks5",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "The SOCKS5 door: CONNECT with optional username/password (servers[].protocol).",
  provides: ["inbound"],
  options: z.object({}).strict(),
  create: () => ({ provides: { inbound: SOCKS5_INBOUND } }),
});

export default plugin;
