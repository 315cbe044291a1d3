/**
 * `@p2proxy/resolver-static`: the exit resolves names from a fixed map —
 * `localhost` (127.0.0.1, ::1) plus the names in `hosts` — and fails every
 * other name at once as not found. Nothing is looked up on the network, so
 * tests and closed labs never send a DNS query off the machine.
 *
 * Options (strict):
 * - `hosts`: name → the IP addresses it resolves to, in the order to try,
 *   e.g. `{ "dest.test": ["127.0.0.1"] }`; a declared `localhost` replaces
 *   the built-in one.
 *
 * Permissions: none.
 *
 * @example
 * ```yaml
 * providers: { resolver: "@p2proxy/resolver-static" }
 * plugins:
 *   "@p2proxy/resolver-static": { hosts: { dest.test: [127.0.0.1] } }
 * ```
 *
 * @module
 */
import { z } from "zod";
import { isIpAddressLiteral } from "../../core/domain/egress_policy.ts";
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import { StaticResolver } from "./static_resolver.ts";

export { BUILTIN_STATIC_HOSTS, normalizeHostName, StaticResolver } from "./static_resolver.ts";

/** Longest host name (RFC 1035). */
const MAX_NAME_CHARS = 253;
/** Addresses one name may list: a handful is plenty for a test or a lab. */
const MAX_ADDRESSES_PER_NAME = 16;

/** DNS labels separated by dots, an optional trailing dot; `_` allowed as service names use it. */
const HOST_NAME_PATTERN =
  /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;

/** Why `name` cannot be a key of the map, or undefined when it can. */
function hostNameProblem(name: string): string | undefined {
  if (name.length <= MAX_NAME_CHARS && HOST_NAME_PATTERN.test(name) && !isIpAddressLiteral(name)) {
    return undefined;
  }
  return `${JSON.stringify(name)} is not a host name: use dot-separated labels of letters, ` +
    'digits and "-" (an IP address needs no entry: the exit connects to it as it is)';
}

const ipAddress = z.string().refine(
  (address) => isIpAddressLiteral(address),
  {
    error: (issue) =>
      `${
        JSON.stringify(issue.input)
      } is not an IP address: list IPv4 or IPv6 addresses such as "127.0.0.1"`,
  },
);

/** Options of `@p2proxy/resolver-static`. */
export const ResolverStaticOptions = z.strictObject({
  /** Name → its addresses, in the order to try. */
  hosts: z.record(z.string(), z.array(ipAddress).min(1).max(MAX_ADDRESSES_PER_NAME))
    .superRefine((hosts, ctx) => {
      for (const name of Object.keys(hosts)) {
        const problem = hostNameProblem(name);
        if (problem) ctx.addIssue({ code: "custom", path: [name], message: problem });
      }
    })
    .default({}),
});

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/resolver-static",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "Names from a fixed map (localhost + declared names); nothing leaves the machine.",
  provides: ["resolver"],
  options: ResolverStaticOptions,
  permissions: () => ({}),
  create: (options) => ({ provides: { resolver: new StaticResolver(options.hosts) } }),
});

export default plugin;
