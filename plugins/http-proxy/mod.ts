/**
 * `@p2proxy/http-proxy`: the HTTP door (RFC 9110 CONNECT and absolute-form forwarding;
 * docs/proxy-behaviour.md#http). Provides the `inbound` capability for
 * `servers[].protocol: http`, and is the door a `mixed` port gives every connection that starts
 * with neither SOCKS version byte. `Proxy-Authorization: Basic` is checked against the server's
 * `users`, its username read with the routing grammar. No options.
 *
 * @module
 */
import { z } from "zod";
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import type { InboundProtocol } from "../../core/ports/inbound.ts";
import { httpHandler } from "./http_session.ts";

export {
  httpHandler,
  KEEP_ALIVE_MS,
  PROXY_REALM,
  RESPONSE_HEAD_TIMEOUT_MS,
  statusForFailure,
} from "./http_session.ts";

/**
 * The first bytes of an HTTP request: the upper-case letters methods start with. A mixed port
 * also falls back to this door for any byte no door names, so garbage gets a 400.
 */
export const HTTP_FIRST_BYTES: readonly number[] = Array.from({ length: 26 }, (_, i) => 0x41 + i);

/** The HTTP door as the `inbound` capability. */
export const HTTP_INBOUND: InboundProtocol = {
  protocol: "http",
  firstBytes: HTTP_FIRST_BYTES,
  handler: httpHandler,
};

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/http-proxy",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "The HTTP door: CONNECT and absolute-form forwarding (servers[].protocol: http).",
  provides: ["inbound"],
  options: z.object({}).strict(),
  create: () => ({ provides: { inbound: HTTP_INBOUND } }),
});

export default plugin;
