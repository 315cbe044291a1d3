/**
 * `@p2proxy/sticky-memory`: keeps the sticky pools in memory only, so a
 * restart forgets them. For tests, demos and read-only deployments.
 *
 * @module
 */
import { z } from "zod";
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import { InMemoryStickyStore } from "./memory_sticky_store.ts";

export { InMemoryStickyStore } from "./memory_sticky_store.ts";

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/sticky-memory",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "Sticky pools in memory only (forgotten on restart).",
  provides: ["sticky-store"],
  options: z.object({}).strict(),
  permissions: () => ({}),
  create: () => ({ provides: { "sticky-store": new InMemoryStickyStore() } }),
});

export default plugin;
