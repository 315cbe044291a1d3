/**
 * Metrics of the hub role, from its periodic `hub-stats` event: registered
 * exits, relay reservations, directory requests and refusals.
 *
 * @module
 */
import { gauge, type MetricSet } from "./_metric_set.ts";

/** The hub role's metrics (gauges set from the hub's own running totals). */
export const hubMetrics: MetricSet = ({ registry }) => {
  const registered = gauge(registry, "hub_registered_exits", "Exits registered and not expired.");
  const reservations = gauge(
    registry,
    "hub_relay_reservations",
    "Circuit relay reservations held.",
  );
  const raised = gauge(
    registry,
    "hub_relay_raised_limits",
    "Relay reservations with exit (raised) limits.",
  );
  const expired = gauge(
    registry,
    "hub_expired_exits_total",
    "Exits forgotten after missing their heartbeats.",
  );
  const registrations = gauge(
    registry,
    "hub_registrations_total",
    "Registrations accepted (first ones and heartbeats).",
  );
  const finds = gauge(registry, "hub_find_nodes_total", "FindNodes requests answered.");
  const resolves = gauge(registry, "hub_resolve_peers_total", "ResolvePeers requests answered.");
  const returned = gauge(
    registry,
    "hub_exits_returned_total",
    "Exits returned by FindNodes, summed.",
  );
  const errors = gauge(
    registry,
    "hub_request_errors_total",
    "Directory requests refused or reset, all codes.",
  );
  return {
    "hub-stats": (event) => {
      registered.set(event.registeredExits);
      reservations.set(event.relayReservations);
      raised.set(event.raisedRelayLimits);
      expired.set(event.expiredExits);
      registrations.set(event.registrations);
      finds.set(event.finds);
      resolves.set(event.resolves);
      returned.set(event.exitsReturned);
      errors.set(Object.values(event.errors).reduce((sum, n) => sum + n, 0));
    },
  };
};
