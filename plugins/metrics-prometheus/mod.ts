/**
 * `@p2proxy/metrics-prometheus`: Prometheus metrics (docs/operations.md#metrics). An event sink
 * that keeps the anchor's `p2proxy_*` metrics, and an HTTP endpoint serving
 * them at `GET /metrics`.
 *
 * Options (`configure` maps the role's `metrics_port` / `metrics_bind` here):
 * - `port` (default 9091): the TCP port of `/metrics`. **0 disables the
 *   endpoint**, as `metrics_port: 0` does in the config; the sink still counts.
 * - `bind` (default `127.0.0.1`): an IP address. A non-loopback address is
 *   refused unless `allow_remote: true`.
 * - `role`: which metric sets to register and the `build_info` role label;
 *   default: the role of the running command.
 * - `allow_remote` (default false): allows a non-loopback `bind`.
 *
 * Permissions: `net` on `<bind>:<port>` to listen; none when `port` is 0.
 *
 * @module
 */
import { hostPort } from "../../core/host_port.ts";
import { getLogger } from "@logtape/logtape";
import { z } from "zod";
import {
  DEFAULT_BIND_ADDRESS,
  ipLiteralSchema,
  isLoopbackAddress,
  portOrZeroSchema,
} from "../../core/config/common.ts";
import { PROXY_DEFAULT_METRICS_PORT } from "../../core/config/proxy_config.ts";
import {
  definePlugin,
  PLUGIN_API_VERSION,
  type PluginInstance,
  type Role,
} from "../../core/plugin/contract.ts";
import type { PermissionSet } from "../../core/plugin/permissions.ts";
import { type MetricsAddress, MetricsServer, metricsUrl } from "./metrics_server.ts";
import { PrometheusSink } from "./prometheus_sink.ts";

export {
  METRIC_SETS_BY_ROLE,
  P2PROXY_VERSION,
  PrometheusSink,
  type PrometheusSinkOptions,
} from "./prometheus_sink.ts";
export {
  METRICS_PATH,
  type MetricsAddress,
  MetricsServer,
  type MetricsServerOptions,
  type MetricsSource,
  metricsUrl,
  type RouteHandler,
} from "./metrics_server.ts";
export { MetricsError, type MetricsErrorCode } from "./metrics_error.ts";
export type { EventHandlers, EventOf, MetricSet, MetricSetContext } from "./_metric_set.ts";

const logger = getLogger(["p2proxy", "metrics"]);

/** Every role, for the `role` option. */
const ROLES = ["proxy", "exit", "hub", "auth", "demo", "tool"] as const satisfies readonly Role[];

/** Options of `@p2proxy/metrics-prometheus`. */
export const MetricsPrometheusOptions = z.object({
  /** Port of `/metrics`; 0 disables the endpoint. */
  port: portOrZeroSchema.default(PROXY_DEFAULT_METRICS_PORT),
  /** IP address of `/metrics`; loopback unless `allow_remote`. */
  bind: ipLiteralSchema.default(DEFAULT_BIND_ADDRESS),
  /** Metric sets and `build_info` role; default: the running command's role. */
  role: z.enum(ROLES).optional(),
  /** Allows a non-loopback `bind`. */
  allow_remote: z.boolean().default(false),
}).strict().superRefine((options, ctx) => {
  if (options.port === 0 || options.allow_remote || isLoopbackAddress(options.bind)) return;
  ctx.addIssue({
    code: "custom",
    path: ["bind"],
    message: `Refusing to serve metrics on ${options.bind}, a non-loopback address: use ` +
      "127.0.0.1, or set `allow_remote: true` to expose them on purpose.",
  });
});

/** Parsed options of `@p2proxy/metrics-prometheus`. */
export type MetricsPrometheusOptions = z.output<typeof MetricsPrometheusOptions>;

/** What {@link createMetricsEndpoint} builds. */
export interface MetricsEndpoint {
  /** The event sink; give it to the host (or `fanOut`). */
  readonly sink: PrometheusSink;
  /** The HTTP endpoint; undefined when `port` is 0. */
  readonly server: MetricsServer | undefined;
  /** Where `/metrics` is served once started, e.g. `http://127.0.0.1:9091/metrics`. */
  url(): string | undefined;
}

/**
 * Builds the sink and (unless `port` is 0) the server for these options, the
 * way the plugin does. For role code that wires metrics itself and wants the
 * bound address or the route hook: `endpoint.server?.route(...)`,
 * `await endpoint.server?.start()`, `endpoint.url()`.
 */
export function createMetricsEndpoint(
  options: MetricsPrometheusOptions,
  defaults: { readonly role: Role; readonly version?: string },
): MetricsEndpoint {
  const sink = new PrometheusSink({
    role: options.role ?? defaults.role,
    ...(defaults.version === undefined ? {} : { version: defaults.version }),
  });
  const server = options.port === 0 ? undefined : new MetricsServer(sink.registry, {
    port: options.port,
    bind: options.bind,
    allowRemote: options.allow_remote,
  });
  return {
    sink,
    server,
    url: () => server?.address && metricsUrl(server.address),
  };
}

/** The plugin's instance: the usual lifecycle, plus the endpoint for code that holds the instance. */
export interface MetricsPluginInstance extends PluginInstance<"event-sink" | "http-routes"> {
  /** The sink and the server, for the bound address and the route hook. */
  readonly endpoint: MetricsEndpoint;
}

/** Deno's net permission for listening on `bind:port` (IPv6 in brackets). */
export function metricsPermissions(options: MetricsPrometheusOptions): PermissionSet {
  if (options.port === 0) return {};
  return { net: [hostPort(options.bind, options.port)] };
}

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/metrics-prometheus",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "Prometheus metrics (p2proxy_*) at GET /metrics on 127.0.0.1:9091.",
  provides: ["event-sink", "http-routes"],
  options: MetricsPrometheusOptions,
  // `metrics_port` and `metrics_bind`; a non-loopback bind in the role's own config is a
  // deliberate choice.
  configure: (settings) =>
    "metricsPort" in settings.config
      ? {
        port: settings.config.metricsPort,
        bind: settings.config.metricsBind,
        allow_remote: !isLoopbackAddress(settings.config.metricsBind),
      }
      : undefined,
  permissions: (options) => metricsPermissions(options),
  create: (options, ctx) => {
    const endpoint = createMetricsEndpoint(options, { role: ctx.role });
    const instance: MetricsPluginInstance = {
      provides: {
        "event-sink": endpoint.sink,
        "http-routes": {
          route: (method, pattern, handler) =>
            void endpoint.server?.route(method, pattern, handler),
          baseUrl: () => endpoint.url()?.replace(/\/metrics$/, ""),
        },
      },
      endpoint,
      start: async () => {
        const address: MetricsAddress | undefined = await endpoint.server?.start();
        if (address) logger.info("Metrics at {url}", { url: metricsUrl(address) });
      },
      stop: () => endpoint.server?.stop(),
    };
    return instance;
  },
});

export default plugin;
