/**
 * `@p2proxy/registry-kv`: the hub's registry of exits in Deno KV
 * (docs/hub-behaviour.md#shared-registry), so that several hubs opening the same database share one
 * registry.
 *
 * Options: `path` (default `"registry.kv"`), a database file relative to the
 * state directory unless absolute, `":memory:"` for a private in-process
 * database, or an `https://` KV Connect URL. Permissions: read and write on
 * that file (or net to the URL's host and the `DENO_KV_ACCESS_TOKEN` env),
 * plus `--unstable-kv`.
 *
 * @module
 */
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import { kvLocation, kvPathOptions, kvPermissions } from "../_shared/kv_location.ts";
import { KvRegistryStore } from "./kv_registry_store.ts";

export {
  KV_EXPIRY_GRACE_MS,
  KvRegistryStore,
  type KvRegistryStoreErrorCode,
  REGISTRY_KV_PREFIX,
} from "./kv_registry_store.ts";

/** The database file name in the state directory. */
export const DEFAULT_REGISTRY_KV = "registry.kv";

export { IN_MEMORY_KV } from "../_shared/kv_location.ts";

/** Options of `@p2proxy/registry-kv`. */
export const RegistryKvOptions = kvPathOptions(DEFAULT_REGISTRY_KV);

/** The location handed to `Deno.openKv`: `path` resolved against the state directory when it is a file. */
export const registryKvLocation: (stateDir: string, path: string) => string = kvLocation;

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/registry-kv",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "The hub's registry of exits in Deno KV, shared by every hub opening the database.",
  provides: ["registry-store"],
  options: RegistryKvOptions,
  permissions: (options, ctx) => kvPermissions(registryKvLocation(ctx.stateDir, options.path)),
  create: async (options, ctx) => {
    const store = await KvRegistryStore.open(registryKvLocation(ctx.stateDir, options.path));
    return { provides: { "registry-store": store }, stop: () => store.close() };
  },
});

export default plugin;
