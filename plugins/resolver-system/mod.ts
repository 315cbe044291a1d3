/**
 * `@p2proxy/resolver-system`: the exit resolves names the way the operating
 * system does (`getaddrinfo`: /etc/hosts, then the configured DNS servers),
 * all addresses in the system's order. The built-in default resolver.
 *
 * Options: none.
 *
 * Permissions: `--allow-net` without a list. Deno checks net access to each
 * name `getaddrinfo` is asked about, and an exit's names are whatever its
 * clients ask for; an exit connects anywhere its egress policy allows anyway.
 *
 * @module
 */
import { z } from "zod";
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import { SystemResolver } from "./system_resolver.ts";

export {
  type LookupAddress,
  type LookupAll,
  SYSTEM_LOOKUP_LOG_PREFIX,
  SystemResolver,
} from "./system_resolver.ts";

/** Deno's net grant for "any host": see the module doc for why nothing narrower works. */
export const SYSTEM_RESOLVER_NET: readonly string[] = ["*"];

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/resolver-system",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "Names through the operating system's resolver (/etc/hosts, DNS servers).",
  provides: ["resolver"],
  options: z.strictObject({}),
  permissions: () => ({ net: [...SYSTEM_RESOLVER_NET] }),
  create: () => ({ provides: { resolver: new SystemResolver() } }),
});

export default plugin;
