/**
 * Metrics of UDP associations (docs/proxy-behaviour.md#udp-associate), on the proxy and the
 * exit alike, labelled by `side`: associations started and active, datagrams and payload bytes
 * each way and datagrams dropped, counted when an association ends.
 *
 * @module
 */
import { ActiveSet, labelledCounter, type MetricSet } from "./_metric_set.ts";
import { Gauge } from "prom-client";
import { METRIC_PREFIX } from "./constants.ts";

/** The UDP association metrics (one set per process, both sides labelled). */
export const udpMetrics: MetricSet = ({ registry }) => {
  const active = { proxy: new ActiveSet<string>(), exit: new ActiveSet<string>() };
  const labelled = <L extends string>(name: string, help: string, labelNames: L[]) =>
    labelledCounter(registry, name, help, labelNames);
  const associations = labelled(
    "udp_associations_total",
    "UDP associations started, by side (proxy or exit).",
    ["side"],
  );
  const associationsActive = new Gauge({
    name: METRIC_PREFIX + "udp_associations_active",
    help: "UDP associations open now, by side.",
    labelNames: ["side"],
    registers: [registry],
  });
  const datagrams = labelled(
    "udp_datagrams_total",
    "UDP datagrams relayed, by side and direction (up: client to destination), counted when an " +
      "association ends.",
    ["side", "direction"],
  );
  const bytes = labelled(
    "udp_bytes_total",
    "UDP payload bytes relayed, by side and direction, counted when an association ends.",
    ["side", "direction"],
  );
  const dropped = labelled(
    "udp_dropped_total",
    "UDP datagrams dropped (fragments, over a bound, refused by egress policy, unsolicited), " +
      "by side, counted when an association ends.",
    ["side"],
  );
  return {
    "udp-association-start": (event) => {
      associations.inc({ side: event.side });
      associationsActive.set({ side: event.side }, active[event.side].add(event.sessionId));
    },
    "udp-association-end": (event) => {
      const side = event.side;
      associationsActive.set({ side }, active[side].delete(event.sessionId));
      if (event.datagramsUp > 0) datagrams.inc({ side, direction: "up" }, event.datagramsUp);
      if (event.datagramsDown > 0) datagrams.inc({ side, direction: "down" }, event.datagramsDown);
      if (event.bytesUp > 0) bytes.inc({ side, direction: "up" }, event.bytesUp);
      if (event.bytesDown > 0) bytes.inc({ side, direction: "down" }, event.bytesDown);
      if (event.dropped > 0) dropped.inc({ side }, event.dropped);
    },
  };
};
