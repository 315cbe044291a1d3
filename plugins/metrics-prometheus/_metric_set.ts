/**
 * The building block of the Prometheus sink: a metric set registers its
 * metrics in a registry and says which events feed them. A role's metrics are
 * a list of sets (see `METRIC_SETS_BY_ROLE`), so hub metrics, say, are one
 * more file and one more entry in that list.
 *
 * @module
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { P2ProxyEvent, P2ProxyEventType } from "../../core/events.ts";
import type { Role } from "../../core/plugin/contract.ts";
import {
  LABEL_VALUE_MAX_CHARS,
  LABEL_VALUES_MAX,
  METRIC_PREFIX,
  MS_PER_SECOND,
  OTHER_LABEL_VALUE,
} from "./constants.ts";

/** The event of one type. */
export type EventOf<T extends P2ProxyEventType> = Extract<P2ProxyEvent, { type: T }>;

/** What a metric set does with the events it cares about; must be cheap and must not throw. */
export type EventHandlers = { readonly [T in P2ProxyEventType]?: (event: EventOf<T>) => void };

/** What a metric set is built from. */
export interface MetricSetContext {
  /** Where the set registers its metrics. */
  readonly registry: Registry;
  /** The role of this process (`build_info` label). */
  readonly role: Role;
  /** The p2proxy version (`build_info` label). */
  readonly version: string;
}

/** Registers a group of metrics and returns the handlers that feed them. */
export type MetricSet = (context: MetricSetContext) => EventHandlers;

/** A counter without labels, registered in `registry`. */
export function counter(registry: Registry, name: string, help: string): Counter {
  return new Counter({ name: METRIC_PREFIX + name, help, registers: [registry] });
}

/** A counter with labels, registered in `registry`. */
export function labelledCounter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
): Counter<L> {
  return new Counter({ name: METRIC_PREFIX + name, help, labelNames, registers: [registry] });
}

/** A gauge without labels; `collect` runs at scrape time when given. */
export function gauge(
  registry: Registry,
  name: string,
  help: string,
  collect?: (this: Gauge) => void,
): Gauge {
  return new Gauge({
    name: METRIC_PREFIX + name,
    help,
    registers: [registry],
    ...(collect ? { collect } : {}),
  });
}

/** A histogram without labels, with explicit buckets (seconds). */
export function histogram(
  registry: Registry,
  name: string,
  help: string,
  buckets: readonly number[],
): Histogram {
  return new Histogram({
    name: METRIC_PREFIX + name,
    help,
    buckets: [...buckets],
    registers: [registry],
  });
}

/**
 * Adds `amount` to a counter when it is a positive finite number. prom-client
 * throws on a negative amount and silently adds NaN; an event with a bad byte
 * count must cost one sample, not the sink.
 */
export function addTo(target: Counter, amount: number): void {
  if (amount > 0 && Number.isFinite(amount)) target.inc(amount);
}

/** Observes a duration given in milliseconds, in seconds; ignores negative or non-finite ones. */
export function observeMs(target: Histogram, ms: number): void {
  if (ms >= 0 && Number.isFinite(ms)) target.observe(ms / MS_PER_SECOND);
}

/**
 * Keeps a label's cardinality bounded: a value is kept as is while it is
 * short and fewer than `LABEL_VALUES_MAX` distinct values have been seen;
 * anything else becomes `other`.
 */
export class BoundedLabel {
  readonly #seen = new Set<string>();

  /** The value to record for `raw`. */
  value(raw: string): string {
    if (this.#seen.has(raw)) return raw;
    if (raw.length === 0 || raw.length > LABEL_VALUE_MAX_CHARS) return OTHER_LABEL_VALUE;
    if (this.#seen.size >= LABEL_VALUES_MAX) return OTHER_LABEL_VALUE;
    this.#seen.add(raw);
    return raw;
  }
}

/**
 * Tracks which ids are active, so a gauge counts each once: a repeated start
 * or an end without a start (a sink attached mid-session) never skews it, and
 * it never goes below zero.
 */
export class ActiveSet<T> {
  readonly #active = new Set<T>();

  /** Marks `id` active; returns the number active. */
  add(id: T): number {
    this.#active.add(id);
    return this.#active.size;
  }

  /** Marks `id` inactive; returns the number active. */
  delete(id: T): number {
    this.#active.delete(id);
    return this.#active.size;
  }
}
