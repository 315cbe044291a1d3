/**
 * The demo's settings (`p2proxy demo`): it has no config file, only flags. The demo composes a
 * hub, two exits and a proxy from their own configs; these settings are what its shared plugins
 * (clock, resolver, event sinks, metrics) are built from.
 *
 * @module
 */

/** The demo's first SOCKS5 port (exits in NL); the next one serves exits in DE. */
export const DEMO_DEFAULT_SOCKS_PORT = 1080;
/** The demo's whoami HTTP server. */
export const DEMO_DEFAULT_WHOAMI_PORT = 8080;
/** The demo's Prometheus port (the proxy's usual one). */
export const DEMO_DEFAULT_METRICS_PORT = 9091;

/** What the demo runs with. */
export interface DemoConfig {
  /** The first SOCKS5 port (0 picks free ports). */
  readonly socksPort: number;
  /** The whoami server's port (0 picks a free one). */
  readonly whoamiPort: number;
  /** Port of the Prometheus `/metrics` endpoint; 0 disables it. */
  readonly metricsPort: number;
  /** Address the metrics endpoint binds to: loopback. */
  readonly metricsBind: string;
  /** Capability → plugin name (e.g. the exits' resolver under tests). */
  readonly providers: Readonly<Record<string, string>>;
}
