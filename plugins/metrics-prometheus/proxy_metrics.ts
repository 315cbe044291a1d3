/**
 * Metrics of the proxy's data plane: SOCKS connections, sessions, bytes,
 * stream opens and their failures. Names are the anchor's.
 *
 * @module
 */
import { OTHER_LABEL_VALUE, STREAM_ACQUIRE_BUCKETS_SECONDS } from "./constants.ts";
import { TopLabels } from "./top_labels.ts";
import {
  ActiveSet,
  addTo,
  BoundedLabel,
  counter,
  gauge,
  histogram,
  labelledCounter,
  type MetricSet,
  observeMs,
} from "./_metric_set.ts";

/**
 * The `session_errors_total` stage of a SOCKS rejection. `no-peer` is left
 * out: the `session-failed` event that follows it counts that failure, and
 * `socks_rejected_no_peer_total` counts it on its own.
 */
const REJECTION_STAGE = {
  "auth": "auth",
  "handshake": "handshake",
  "unsupported": "handshake",
  "no-peer": undefined,
} as const;

/** The proxy role's metrics. */
export const proxyMetrics: MetricSet = ({ registry }) => {
  const sessions = new ActiveSet<string>();
  const stages = new BoundedLabel();
  const codes = new BoundedLabel();
  const sessionsActive = gauge(registry, "sessions_active", "SOCKS sessions being relayed.");
  const socksConnections = counter(
    registry,
    "socks_connections_total",
    "SOCKS client connections accepted.",
  );
  const sessionsInitialized = counter(
    registry,
    "sessions_initialized_total",
    "SOCKS sessions that reached an exit and started relaying.",
  );
  const uploadBytes = counter(registry, "upload_bytes_total", "Bytes relayed client → exit.");
  const downloadBytes = counter(registry, "download_bytes_total", "Bytes relayed exit → client.");
  const sessionErrors = labelledCounter(
    registry,
    "session_errors_total",
    "SOCKS sessions that failed or ended on an error, by stage.",
    ["stage"],
  );
  const streamOpened = counter(registry, "stream_opened_total", "Streams opened to exits.");
  const acquireFailed = labelledCounter(
    registry,
    "stream_acquire_failed_total",
    "Stream opens to exits that failed, by code.",
    ["code"],
  );
  const acquireDuration = histogram(
    registry,
    "stream_acquire_duration_seconds",
    "Time to open a stream to an exit, successful or not.",
    STREAM_ACQUIRE_BUCKETS_SECONDS,
  );
  const sessionMoves = counter(
    registry,
    "session_moves_total",
    "Username sessions that moved to another exit because theirs was gone.",
  );
  const jitDiscovery = counter(
    registry,
    "socks_jit_discovery_total",
    "Discoveries started because a SOCKS client arrived while its port had no exit.",
  );
  const rejectedNoPeer = counter(
    registry,
    "socks_rejected_no_peer_total",
    "SOCKS clients turned away because no exit became available in time.",
  );
  const fallbacks = new BoundedLabel();
  const transportFallbacks = labelledCounter(
    registry,
    "transport_fallbacks_total",
    "Exits whose sessions fell back from QUIC to libp2p streams, by reason.",
    ["reason"],
  );
  // Per account (docs/limits.md#usage): the top LABEL_VALUES_MAX accounts by bytes by name
  // (re-ranked each minute; top_labels.ts) and the first LABEL_VALUES_MAX countries, the rest
  // summed under `other`, so a flood of accounts cannot grow the scrape.
  const countriesOf = new Map<string, Set<string>>();
  const accounts = new TopLabels({
    onDropped: (account) => {
      for (const country of countriesOf.get(account) ?? []) {
        for (const metric of accountMetrics) metric.remove({ account, country });
      }
      countriesOf.delete(account);
    },
  });
  const countries = new BoundedLabel();
  const accountLabels = ["account", "country"];
  const accountUp = labelledCounter(
    registry,
    "account_upload_bytes_total",
    "Bytes relayed client → exit, per account and required exit country.",
    accountLabels,
  );
  const accountDown = labelledCounter(
    registry,
    "account_download_bytes_total",
    "Bytes relayed exit → client, per account and required exit country.",
    accountLabels,
  );
  const accountSessions = labelledCounter(
    registry,
    "account_sessions_total",
    "Sessions that got an exit, per account and required exit country.",
    accountLabels,
  );
  const accountErrors = labelledCounter(
    registry,
    "account_session_errors_total",
    "Sessions admitted that got no exit, per account and required exit country.",
    accountLabels,
  );
  const accountRefused = labelledCounter(
    registry,
    "account_refused_total",
    "Sessions refused by the account's limits (connections or quota).",
    accountLabels,
  );
  const accountMetrics = [accountUp, accountDown, accountSessions, accountErrors, accountRefused];
  const countError = (stage: string) => sessionErrors.inc({ stage: stages.value(stage) });

  return {
    "socks-accepted": () => socksConnections.inc(),
    "session-new": (event) => {
      sessionsInitialized.inc();
      sessionsActive.set(sessions.add(event.sessionId));
    },
    "session-end": (event) => {
      sessionsActive.set(sessions.delete(event.sessionId));
      if (event.error) countError(event.error.stage);
    },
    "session-failed": (event) => countError(event.stage),
    "socks-rejected": (event) => {
      if (event.reason === "no-peer") return rejectedNoPeer.inc();
      countError(REJECTION_STAGE[event.reason]);
    },
    "bandwidth": (event) => {
      addTo(uploadBytes, event.up);
      addTo(downloadBytes, event.down);
    },
    "stream-opened": (event) => {
      streamOpened.inc();
      observeMs(acquireDuration, event.durationMs);
    },
    "stream-open-failed": (event) => {
      acquireFailed.inc({ code: codes.value(event.code) });
      observeMs(acquireDuration, event.durationMs);
    },
    "account-usage": (event) => {
      const labels = {
        // An empty label value reads as absent in Prometheus: name the anonymous account.
        account: event.account === "" ? "-" : accounts.value(event.account, event.up + event.down),
        country: event.country === "" ? "-" : countries.value(event.country),
      };
      if (labels.account !== "-" && labels.account !== OTHER_LABEL_VALUE) {
        const seen = countriesOf.get(labels.account) ?? new Set<string>();
        countriesOf.set(labels.account, seen.add(labels.country));
      }
      if (event.up > 0) accountUp.inc(labels, event.up);
      if (event.down > 0) accountDown.inc(labels, event.down);
      if (event.sessions > 0) accountSessions.inc(labels, event.sessions);
      if (event.errors > 0) accountErrors.inc(labels, event.errors);
      if (event.refused > 0) accountRefused.inc(labels, event.refused);
    },
    "jit-discovery": () => jitDiscovery.inc(),
    "session-moved": () => sessionMoves.inc(),
    "transport-selected": (event) => {
      if (event.transport === "libp2p") {
        transportFallbacks.inc({ reason: fallbacks.value(event.reason ?? "unknown") });
      }
    },
  };
};
