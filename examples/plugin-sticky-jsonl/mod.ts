/**
 * `@example/sticky-jsonl`: a third-party p2proxy plugin providing `sticky-store` — the exits a
 * proxy remembers, kept in a JSON-lines journal in the state directory. Listed in a proxy's
 * `deno.json` (`"p2proxy": { "plugins": ["jsr:@example/sticky-jsonl"] }`) and chosen with
 * `providers: { sticky-store: "@example/sticky-jsonl" }`.
 *
 * @example Options in a proxy's Config.yaml
 * ```yaml
 * providers: { sticky-store: "@example/sticky-jsonl" }
 * plugins:
 *   "@example/sticky-jsonl": { file: sticky.jsonl, max_lines: 200 }
 * ```
 *
 * @module
 */
import { definePlugin, PLUGIN_API_VERSION, type PluginDefinition } from "@p2proxy/p2proxy";
import { z } from "zod";
import { JsonlStickyStore } from "./jsonl_sticky_store.ts";

export { JsonlStickyStore } from "./jsonl_sticky_store.ts";

/** Saves kept per server before the journal is compacted, when the config does not say. */
const SAVES_PER_SERVER = 50;

/** The plugin's options; every one has a default, so `{}` is valid. */
export const StickyJsonlOptions: z.ZodType<{ file: string; max_lines: number }> = z.object({
  /** The journal, a file name inside the state directory. */
  file: z.string().regex(/^[\w.-]+$/, "a file name inside the state directory").default(
    "sticky.jsonl",
  ),
  /** Compact the journal once it holds this many lines. */
  max_lines: z.number().int().min(1).max(1_000_000).default(100),
}).strict();

/** The plugin manifest (typed explicitly: a published module's exports need explicit types). */
export const plugin: PluginDefinition<typeof StickyJsonlOptions, "sticky-store"> = definePlugin({
  name: "@example/sticky-jsonl",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "Sticky pools in a JSON-lines journal in the state directory.",
  provides: ["sticky-store"],
  // Problems (an unreadable journal) go to the role's event sinks (logs, metrics) when it has any.
  wants: ["event-sink"],
  options: StickyJsonlOptions,
  // A proxy with many servers saves more often: keep that many saves per server in the journal.
  configure: (settings) =>
    settings.role === "proxy"
      ? { max_lines: Math.max(1, settings.config.servers.length) * SAVES_PER_SERVER }
      : undefined,
  // The journal and its temp file live in the state directory: nothing else is touched.
  permissions: (_options, ctx) => ({ read: [ctx.stateDir], write: [ctx.stateDir] }),
  create: (options, ctx) => {
    const events = ctx.find("event-sink");
    const store = new JsonlStickyStore(`${ctx.stateDir}/${options.file}`, {
      maxLines: options.max_lines,
      ...(events ? { events } : {}),
    });
    return { provides: { "sticky-store": store } };
  },
});

export default plugin;
