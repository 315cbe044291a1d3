/**
 * p2proxy for embedders and plugin authors: the plugin contract
 * (`definePlugin`), the port interfaces, the domain types and the events.
 * Compliance suites for each port are in `@p2proxy/p2proxy/testing`.
 *
 * @example
 * ```ts
 * import { definePlugin, PLUGIN_API_VERSION, type StickyStore } from "@p2proxy/p2proxy";
 * ```
 *
 * @module
 */
export * from "./core/mod.ts";
