/**
 * Where events go: log lines and Prometheus metrics today. Sinks must never block the
 * data plane: `emit` is synchronous and must return at once.
 *
 * @module
 */
import type { P2ProxyEvent } from "../events.ts";

/** Receives events. Must not throw and must not block. */
export interface EventSink {
  /** Takes one event; returns at once (queue or drop rather than wait). */
  emit(event: P2ProxyEvent): void;
}

/** A sink that forwards every event to several sinks. */
export function fanOut(...sinks: readonly EventSink[]): EventSink {
  return {
    emit(event) {
      for (const sink of sinks) sink.emit(event);
    },
  };
}

/** A sink that drops everything. */
export const NULL_SINK: EventSink = { emit() {} };
