/**
 * Metrics of the exit role: sessions served, refusals, bytes to and from
 * destinations.
 *
 * @module
 */
import {
  ActiveSet,
  addTo,
  BoundedLabel,
  counter,
  gauge,
  labelledCounter,
  type MetricSet,
} from "./_metric_set.ts";

/** The exit role's metrics. */
export const exitMetrics: MetricSet = ({ registry }) => {
  const sessions = new ActiveSet<string>();
  const reasons = new BoundedLabel();
  const sessionsActive = gauge(
    registry,
    "exit_sessions_active",
    "Sessions this exit is relaying to destinations.",
  );
  const sessionsTotal = counter(
    registry,
    "exit_sessions_total",
    "Sessions this exit connected to a destination.",
  );
  const denied = labelledCounter(
    registry,
    "exit_denied_total",
    "Connect requests this exit refused, by reason (egress policy, auth, limit, connect failure).",
    ["reason"],
  );
  const uploadBytes = counter(
    registry,
    "exit_upload_bytes_total",
    "Bytes sent from proxies toward destinations, counted when a session ends.",
  );
  const downloadBytes = counter(
    registry,
    "exit_download_bytes_total",
    "Bytes sent from destinations toward proxies, counted when a session ends.",
  );
  return {
    "exit-session-start": (event) => {
      sessionsTotal.inc();
      sessionsActive.set(sessions.add(event.sessionId));
    },
    "exit-session-end": (event) => {
      sessionsActive.set(sessions.delete(event.sessionId));
      addTo(uploadBytes, event.bytesUp);
      addTo(downloadBytes, event.bytesDown);
    },
    "exit-denied": (event) => denied.inc({ reason: reasons.value(event.reason) }),
  };
};
