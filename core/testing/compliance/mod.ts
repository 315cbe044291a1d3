/**
 * Compliance suites, one per port (docs/plugins.md#compliance-suites): a plugin author runs the
 * suite of each port the plugin provides against the plugin's own implementation, inside a
 * `Deno.test`, to prove it behaves like the built-in ones.
 *
 * @example
 * ```ts
 * import { stickyStoreCompliance } from "@p2proxy/p2proxy/testing";
 *
 * Deno.test("my store", (t) =>
 *   stickyStoreCompliance(t, () => ({ store: new MyStore(), cleanup: () => {} })));
 * ```
 *
 * @module
 */
export * from "./authenticator.ts";
export * from "./clock.ts";
export * from "./dialer.ts";
export * from "./event_sink.ts";
export * from "./http_routes.ts";
export * from "./identity.ts";
export * from "./inbound.ts";
export * from "./network.ts";
export * from "./peer_directory.ts";
export * from "./plugin_manifest.ts";
export * from "./quota_store.ts";
export * from "./registry_store.ts";
export * from "./relay_server.ts";
export * from "./resolver.ts";
export * from "./sticky_store.ts";
export * from "./stream_opener.ts";
export type { StepDefinition, TestContext } from "./_test_context.ts";
export type { Awaitable, Releasable } from "./_harness.ts";
