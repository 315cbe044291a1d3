/**
 * The Prometheus event sink: turns p2proxy events into counters, gauges and
 * histograms in a prom-client registry, which `MetricsServer` serves.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { Registry } from "prom-client";
import manifest from "../../deno.json" with { type: "json" };
import { describeError } from "../../core/errors.ts";
import type { P2ProxyEvent, P2ProxyEventType } from "../../core/events.ts";
import type { Role } from "../../core/plugin/contract.ts";
import type { EventSink } from "../../core/ports/event_sink.ts";
import type { EventHandlers, MetricSet } from "./_metric_set.ts";
import { exitMetrics } from "./exit_metrics.ts";
import { hubMetrics } from "./hub_metrics.ts";
import { nodeMetrics } from "./node_metrics.ts";
import { processMetrics } from "./process_metrics.ts";
import { proxyMetrics } from "./proxy_metrics.ts";
import { udpMetrics } from "./udp_metrics.ts";

const logger = getLogger(["p2proxy", "metrics"]);

/** The p2proxy version reported by `p2proxy_build_info` unless told otherwise. */
export const P2PROXY_VERSION: string = manifest.version;

/**
 * The metric sets of each role. Hub metrics (`p2proxy_hub_*`) are one more
 * set in the `hub` entry (and `demo`, which runs a hub in-process).
 */
export const METRIC_SETS_BY_ROLE: Readonly<Record<Role, readonly MetricSet[]>> = {
  proxy: [processMetrics, nodeMetrics, proxyMetrics, udpMetrics],
  exit: [processMetrics, nodeMetrics, exitMetrics, udpMetrics],
  hub: [processMetrics, nodeMetrics, hubMetrics],
  demo: [processMetrics, nodeMetrics, proxyMetrics, exitMetrics, udpMetrics],
  auth: [processMetrics],
  tool: [processMetrics],
};

/** Options of {@link PrometheusSink}. */
export interface PrometheusSinkOptions {
  /** The role of this process: picks the metric sets and labels `build_info`. Default `proxy`. */
  readonly role?: Role;
  /** The version `build_info` reports. Default: this package's version. */
  readonly version?: string;
  /** The registry to fill. Default: a new one (never prom-client's global registry). */
  readonly registry?: Registry;
  /** The metric sets to register instead of the role's (for a custom or extended role). */
  readonly sets?: readonly MetricSet[];
}

type Handler = (event: P2ProxyEvent) => void;

/**
 * An `EventSink` that records metrics. `emit` is one map lookup and a few
 * number updates; events no metric uses cost the lookup only.
 *
 * @example
 * ```ts
 * const sink = new PrometheusSink({ role: "proxy" });
 * sink.emit({ type: "socks-accepted", port: 1080 });
 * console.log(await sink.registry.metrics());
 * ```
 */
export class PrometheusSink implements EventSink {
  /** The registry holding every metric of this sink; serve it with `MetricsServer`. */
  readonly registry: Registry;
  readonly #handlers: ReadonlyMap<P2ProxyEventType, Handler>;
  readonly #failedTypes = new Set<P2ProxyEventType>();

  /** Registers the metrics of `options.role` (or `options.sets`) in the registry. */
  constructor(options: PrometheusSinkOptions = {}) {
    this.registry = options.registry ?? new Registry();
    const context = {
      registry: this.registry,
      role: options.role ?? "proxy",
      version: options.version ?? P2PROXY_VERSION,
    };
    const sets = options.sets ?? METRIC_SETS_BY_ROLE[context.role];
    this.#handlers = mergeHandlers(
      sets.map((set) => set(context)),
      (type, error) => this.#reportFailure(type, error),
    );
  }

  /** Updates the metrics this event feeds. Never throws. */
  emit(event: P2ProxyEvent): void {
    const handle = this.#handlers.get(event.type);
    if (handle === undefined) return;
    try {
      handle(event);
    } catch (error) {
      this.#reportFailure(event.type, error);
    }
  }

  /** Logs a failing event type once: a broken metric must not flood the log on every event. */
  #reportFailure(type: P2ProxyEventType, error: unknown): void {
    if (this.#failedTypes.has(type)) return;
    this.#failedTypes.add(type);
    logger.warn("Metrics could not record a {type} event: {error}", {
      type,
      error: describeError(error),
    });
  }
}

/**
 * One handler per event type, calling every set's handler for it in order;
 * a set that throws is reported and does not stop the sets after it.
 */
function mergeHandlers(
  sets: readonly EventHandlers[],
  onFailure: (type: P2ProxyEventType, error: unknown) => void,
): Map<P2ProxyEventType, Handler> {
  const byType = new Map<P2ProxyEventType, Handler[]>();
  for (const handlers of sets) {
    for (const [type, handler] of Object.entries(handlers) as [P2ProxyEventType, Handler][]) {
      byType.set(type, [...(byType.get(type) ?? []), handler]);
    }
  }
  const merged = new Map<P2ProxyEventType, Handler>();
  for (const [type, handlers] of byType) {
    const [only] = handlers;
    merged.set(
      type,
      handlers.length === 1 && only ? only : (event) => {
        for (const handler of handlers) {
          try {
            handler(event);
          } catch (error) {
            onFailure(type, error);
          }
        }
      },
    );
  }
  return merged;
}
