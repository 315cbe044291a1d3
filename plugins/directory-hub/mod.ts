/**
 * `@p2proxy/directory-hub`: the `peer-directory` a proxy finds exits through — the hubs' directory
 * over `/p2proxy/directory/1.0.0` (docs/hub-behaviour.md), asked in the configured order, with this
 * node's token when an authenticator is loaded. With no hub, every query fails as `unavailable`,
 * so only pinned exits are reached.
 *
 * Options (the proxy's `bootstrap` fills `hubs`):
 * - `hubs`: hub multiaddrs, each ending in `/p2p/<hub id>`, in preference order (default none);
 * - `timeout_secs`: one hub's deadline for a query, dial included (default 10).
 *
 * @module
 */
import { z } from "zod";
import { asMultiaddr } from "../../core/ids.ts";
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import { DIRECTORY_RESPONSE_TIMEOUT_MS } from "../../wire/directory_protocol.ts";
import { HubDirectory } from "./hub_directory.ts";
import { NullDirectory } from "./null_directory.ts";

export { HubDirectory, type HubDirectoryOptions } from "./hub_directory.ts";
export { NullDirectory } from "./null_directory.ts";

/** Longest deadline of one query: a hub slower than a minute counts as down. */
const MAX_TIMEOUT_SECS = 60;

/** Options of `@p2proxy/directory-hub`. */
export const DirectoryHubOptions = z.object({
  /** Hub multiaddrs in preference order, each ending in `/p2p/<hub id>`. */
  hubs: z.array(z.string().min(1)).default([]),
  /** One hub's deadline for a query, dial included. */
  timeout_secs: z.number().positive().max(MAX_TIMEOUT_SECS)
    .default(DIRECTORY_RESPONSE_TIMEOUT_MS / 1000),
}).strict();

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/directory-hub",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "Finds exits through the hubs' directory (the proxy's `bootstrap`).",
  provides: ["peer-directory"],
  requires: ["network"],
  wants: ["authenticator"],
  options: DirectoryHubOptions,
  configure: (settings) =>
    settings.role === "proxy" ? { hubs: [...settings.config.bootstrap] } : undefined,
  permissions: () => ({}),
  create: (options, ctx) => {
    if (options.hubs.length === 0) return { provides: { "peer-directory": new NullDirectory() } };
    const authenticator = ctx.find("authenticator");
    const directory = new HubDirectory({
      network: ctx.get("network"),
      hubs: options.hubs.map(asMultiaddr),
      timeoutMs: options.timeout_secs * 1000,
      ...(authenticator ? { token: () => authenticator.token() } : {}),
    });
    return { provides: { "peer-directory": directory } };
  },
});

export default plugin;
