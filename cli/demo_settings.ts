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
 * The demo's plugins: clock and event sinks from the plugin list, metrics on
 * `metricsPort` (0 = off). The demo builds its nodes itself, on throwaway
 * identities and in-memory stores, so no plugin touches a file.
 *
 * @example
 * ```ts
 * const settings = demoPluginSettings(DEMO_DEFAULT_METRICS_PORT);
 * ```
 */
export function demoPluginSettings(metricsPort: number): PluginSettings {
  return {
    plugins: {},
    derivedOptions: { "@p2proxy/metrics-prometheus": { port: metricsPort, role: "demo" } },
  };
}
