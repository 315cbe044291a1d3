/**
 * `@p2proxy/registry-kv`: the hub's registry of exits in Deno KV (SPEC §7),
 * so that several hubs opening the same database share one registry.
 *
 * Options: `path` (default `"registry.kv"`), a database file relative to the
 * state directory unless absolute, `":memory:"` for a private in-process
 * database, or an `https://` KV Connect URL. Permissions: read and write on
 * that file (or net to the URL's host and the `DENO_KV_ACCESS_TOKEN` env),
 * plus `--unstable-kv`.
 *
 * @module
 */
import { isAbsolute, join } from "node:path";
import { z } from "zod";
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import type { PermissionSet } from "../../core/plugin/permissions.ts";
import { KvRegistryStore } from "./kv_registry_store.ts";

export {
  KV_EXPIRY_GRACE_MS,
  KvRegistryStore,
  KvRegistryStoreError,
  type KvRegistryStoreErrorCode,
  REGISTRY_KV_PREFIX,
} from "./kv_registry_store.ts";

/** The database file name in the state directory. */
export const DEFAULT_REGISTRY_KV = "registry.kv";

/** The path Deno KV reads as a private in-memory database. */
export const IN_MEMORY_KV = ":memory:";

/** Options of `@p2proxy/registry-kv`. */
export const RegistryKvOptions = z.object({
  /** Database file (relative to the state directory unless absolute), `:memory:`, or a KV Connect URL. */
  path: z.string().min(1).default(DEFAULT_REGISTRY_KV),
}).strict();

/** The location handed to `Deno.openKv`: `path` resolved against the state directory when it is a file. */
export function registryKvLocation(stateDir: string, path: string): string {
  if (path === IN_MEMORY_KV || isRemote(path)) return path;
  return isAbsolute(path) ? join(path) : join(stateDir, path);
}

function isRemote(path: string): boolean {
  return path.startsWith("https://") || path.startsWith("http://");
}

function kvPermissions(location: string): PermissionSet {
  if (location === IN_MEMORY_KV) return { unstable: ["kv"] };
  if (isRemote(location)) {
    // KV Connect authenticates with this variable (Deno's documented name).
    return { net: [new URL(location).host], env: ["DENO_KV_ACCESS_TOKEN"], unstable: ["kv"] };
  }
  return { read: [location], write: [location], unstable: ["kv"] };
}

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/registry-kv",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "The hub's registry of exits in Deno KV, shared by every hub opening the database.",
  provides: ["registry-store"],
  options: RegistryKvOptions.refine(
    (options) => !isRemote(options.path) || URL.canParse(options.path),
    { path: ["path"], message: "path looks like a URL but is not a valid one" },
  ),
  permissions: (options, ctx) => kvPermissions(registryKvLocation(ctx.stateDir, options.path)),
  create: async (options, ctx) => {
    const store = await KvRegistryStore.open(registryKvLocation(ctx.stateDir, options.path));
    return { provides: { "registry-store": store }, stop: () => store.close() };
  },
});

export default plugin;
