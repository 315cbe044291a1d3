/**
 * `@p2proxy/quota-file`: the default quota store (docs/limits.md#quota). Keeps each account's
 * count in `usage_quota.json` in the state directory, written atomically every 5 seconds while it
 * changes and at stop; one process owns it (the state directory's lock). Processes that share a
 * total choose `quota-kv` or `quota-redis` instead.
 *
 * Options: `file` (default `"usage_quota.json"`), relative to the state directory unless
 * absolute. Permissions: read and write on the file's folder (the atomic write creates a temp
 * file beside it).
 *
 * @module
 */
import { dirname, isAbsolute, join } from "node:path";
import { z } from "zod";
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import { FileQuotaStore } from "../../wire/quota_book.ts";
import { StateFile } from "../../wire/state_file.ts";

export { FileQuotaStore } from "../../wire/quota_book.ts";

/** The file name the proxy has always used, so an existing state directory keeps its counts. */
export const DEFAULT_QUOTA_FILE = "usage_quota.json";

/** Options of `@p2proxy/quota-file`. */
export const QuotaFileOptions = z.object({
  /** The JSON file, relative to the state directory unless absolute. */
  file: z.string().min(1).default(DEFAULT_QUOTA_FILE),
}).strict();

/** `file` resolved against the state directory (no cwd lookup, so no extra permission). */
export function quotaFilePath(stateDir: string, file: string): string {
  return isAbsolute(file) ? join(file) : join(stateDir, file);
}

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/quota-file",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "Quota counts in a JSON file in the state directory (usage_quota.json).",
  provides: ["quota-store"],
  options: QuotaFileOptions,
  permissions: (options, ctx) => {
    const folder = dirname(quotaFilePath(ctx.stateDir, options.file));
    return { read: [folder], write: [folder] };
  },
  create: async (options, ctx) => {
    const store = await FileQuotaStore.open(
      new StateFile(quotaFilePath(ctx.stateDir, options.file)),
    );
    return { provides: { "quota-store": store }, stop: () => store.stop() };
  },
});

export default plugin;
