/**
 * What the demo composes and listens on by default, shared by `demo` and
 * `permissions demo` so that the printed line and the demo agree.
 *
 * @module
 */
import type { PluginSettings } from "./compose.ts";

/** The demo's first SOCKS5 port (exits in NL); the next one serves exits in DE. */
export const DEMO_DEFAULT_SOCKS_PORT = 1080;
/** The demo's whoami HTTP server. */
export const DEMO_DEFAULT_WHOAMI_PORT = 8080;
/** The demo's Prometheus port (the proxy's usual one). */
export const DEMO_DEFAULT_METRICS_PORT = 9091;

/**
 * Chooses the demo's resolver plugin (a name or built-in short name, e.g.
 * `resolver-static`); unset, the built-in default (the system resolver).
 * Tests set it so the demo's exits never send a DNS query off the machine.
 */
export const DEMO_RESOLVER_ENV = "P2PROXY_DEMO_RESOLVER";

/**
 * The demo's plugins (`resolver` chooses the exits' resolver plugin): clock and event sinks from the plugin list, metrics on
 * `metricsPort` (0 = off). The demo builds its nodes itself, on throwaway
 * identities and in-memory stores, so no plugin touches a file.
 *
 * @example
 * ```ts
 * const settings = demoPluginSettings(DEMO_DEFAULT_METRICS_PORT);
 * ```
 */
export function demoPluginSettings(metricsPort: number, resolver?: string): PluginSettings {
  return {
    plugins: {},
    ...(resolver ? { providers: { resolver } } : {}),
    derivedOptions: { "@p2proxy/metrics-prometheus": { port: metricsPort, role: "demo" } },
  };
}
