/**
 * `@p2proxy/registry-memory`: the hub's registry of exits in memory (the
 * default). A restarted hub starts empty and exits fill it again on their
 * next heartbeat.
 *
 * @module
 */
import { z } from "zod";
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import { InMemoryRegistryStore } from "./memory_registry_store.ts";

export { InMemoryRegistryStore } from "./memory_registry_store.ts";

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/registry-memory",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "The hub's registry of exits in memory (refilled by heartbeats after a restart).",
  provides: ["registry-store"],
  options: z.object({}).strict(),
  permissions: () => ({}),
  create: () => {
    const store = new InMemoryRegistryStore();
    return { provides: { "registry-store": store }, stop: () => store.close() };
  },
});

export default plugin;
