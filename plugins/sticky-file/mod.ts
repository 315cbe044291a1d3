/**
 * `@p2proxy/sticky-file`: the default sticky store (docs/proxy-behaviour.md#sticky-store). Keeps
 * every server's pool of remembered exits in `sticky_peers.json` in the state directory, written
 * atomically; a missing, corrupt or old file never stops the proxy.
 *
 * Options: `file` (default `"sticky_peers.json"`), relative to the state
 * directory unless absolute. Permissions: read and write on the file's folder
 * (the atomic write creates a temp file beside it).
 *
 * @module
 */
import { dirname, isAbsolute, join } from "node:path";
import { z } from "zod";
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import { FileStickyStore } from "./file_sticky_store.ts";

export { FileStickyStore, writeFileAtomically } from "./file_sticky_store.ts";

/** The file name the anchor uses, so an existing state directory keeps its pools. */
export const DEFAULT_STICKY_FILE = "sticky_peers.json";

/** Options of `@p2proxy/sticky-file`. */
export const StickyFileOptions = z.object({
  /** The JSON file, relative to the state directory unless absolute. */
  file: z.string().min(1).default(DEFAULT_STICKY_FILE),
}).strict();

/** `file` resolved against the state directory (no cwd lookup, so no extra permission). */
export function stickyFilePath(stateDir: string, file: string): string {
  return isAbsolute(file) ? join(file) : join(stateDir, file);
}

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/sticky-file",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "Sticky pools in a JSON file in the state directory (sticky_peers.json).",
  provides: ["sticky-store"],
  options: StickyFileOptions,
  permissions: (options, ctx) => {
    const folder = dirname(stickyFilePath(ctx.stateDir, options.file));
    return { read: [folder], write: [folder] };
  },
  create: (options, ctx) => {
    const store = new FileStickyStore(stickyFilePath(ctx.stateDir, options.file));
    return { provides: { "sticky-store": store }, stop: () => store.flush() };
  },
});

export default plugin;
