/**
 * Where events go: the TUI, log lines, Prometheus. Sinks must never block the
 * data plane: `emit` is synchronous and must return at once.
 *
 * @module
 */
import type { P2ProxyEvent } from "../events.ts";

/** Receives events. Must not throw and must not block. */
export interface EventSink {
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
