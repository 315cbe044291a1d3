/**
 * `@p2proxy/identity-memory`: a throwaway Ed25519 identity, made at start and never written (a
 * new peer id every run). The demo's nodes use it; a real node keeps its identity in a file
 * (`@p2proxy/identity-file`, the default). No options, no permissions.
 *
 * @module
 */
import { z } from "zod";
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import { MemoryIdentity } from "./memory_identity.ts";

export { MemoryIdentity } from "./memory_identity.ts";

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/identity-memory",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "A throwaway identity in memory: a new peer id every run, no file.",
  provides: ["identity"],
  options: z.object({}).strict(),
  permissions: () => ({}),
  create: async () => ({ provides: { identity: await MemoryIdentity.generate() } }),
});

export default plugin;
