/**
 * `@p2proxy/quota-kv`: the proxy's quota totals in Deno KV (docs/limits.md#shared-quota), so
 * several proxy processes opening the same database count one total per account. Chosen with
 * `providers: { quota-store: quota-kv }`.
 *
 * Options: `path` (default `"quota.kv"`), a database file relative to the state directory unless
 * absolute, `":memory:"` for a private in-process database, or an `https://` KV Connect URL.
 * Permissions: read and write on that file (or net to the URL's host and the
 * `DENO_KV_ACCESS_TOKEN` env), plus `--unstable-kv`.
 *
 * @example
 * ```yaml
 * providers: { quota-store: quota-kv }
 * plugins:
 *   "@p2proxy/quota-kv": { path: /var/lib/p2proxy-shared/quota.kv }
 * ```
 *
 * @module
 */
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import { kvLocation, kvPathOptions, kvPermissions } from "../_shared/kv_location.ts";
import { KvQuotaStore } from "./kv_quota_store.ts";

export {
  KvQuotaStore,
  type KvQuotaStoreErrorCode,
  QUOTA_KV_KEEP_AFTER_PERIOD_MS,
  QUOTA_KV_PREFIX,
} from "./kv_quota_store.ts";

/** The database file name in the state directory. */
export const DEFAULT_QUOTA_KV = "quota.kv";

/** Options of `@p2proxy/quota-kv`. */
export const QuotaKvOptions = kvPathOptions(DEFAULT_QUOTA_KV);

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/quota-kv",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "Quota totals in Deno KV, one total for every proxy opening the same database.",
  provides: ["quota-store"],
  options: QuotaKvOptions,
  permissions: (options, ctx) => kvPermissions(kvLocation(ctx.stateDir, options.path)),
  create: async (options, ctx) => {
    const store = await KvQuotaStore.open(kvLocation(ctx.stateDir, options.path));
    return { provides: { "quota-store": store }, stop: () => store.close() };
  },
});

export default plugin;
