/**
 * `@p2proxy/sticky-kv`: the sticky pools in Deno KV (docs/proxy-behaviour.md#sticky-store), so
 * several proxy processes, or a serverless deployment, share them.
 *
 * Options: `path` (default `"sticky.kv"`), a database file relative to the
 * state directory unless absolute, `":memory:"` for a private in-process
 * database, or an `https://` KV Connect URL. Permissions: read and write on
 * that file (or net to the URL's host and the `DENO_KV_ACCESS_TOKEN` env),
 * plus `--unstable-kv`.
 *
 * @module
 */
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import { kvLocation, kvPathOptions, kvPermissions } from "../_shared/kv_location.ts";
import { KvStickyStore } from "./kv_sticky_store.ts";

export { KvStickyStore, type KvStickyStoreErrorCode, STICKY_KV_PREFIX } from "./kv_sticky_store.ts";

/** The database file name in the state directory. */
export const DEFAULT_STICKY_KV = "sticky.kv";

export { IN_MEMORY_KV } from "../_shared/kv_location.ts";

/** Options of `@p2proxy/sticky-kv`. */
export const StickyKvOptions = kvPathOptions(DEFAULT_STICKY_KV);

/** The location handed to `Deno.openKv`: `path` resolved against the state directory when it is a file. */
export const stickyKvLocation: (stateDir: string, path: string) => string = kvLocation;

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/sticky-kv",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "Sticky pools in Deno KV, shared by every process that opens the same database.",
  provides: ["sticky-store"],
  options: StickyKvOptions,
  permissions: (options, ctx) => kvPermissions(stickyKvLocation(ctx.stateDir, options.path)),
  create: async (options, ctx) => {
    const store = await KvStickyStore.open(stickyKvLocation(ctx.stateDir, options.path));
    return { provides: { "sticky-store": store }, stop: () => store.close() };
  },
});

export default plugin;
