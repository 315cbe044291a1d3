/**
 * Metrics of any libp2p node (proxy, exit, hub): connected peers and ping.
 *
 * @module
 */
import type { PeerId } from "../../core/ids.ts";
import { PING_RTT_BUCKETS_SECONDS } from "./constants.ts";
import { ActiveSet, counter, gauge, histogram, type MetricSet, observeMs } from "./_metric_set.ts";

/**
 * `p2proxy_peers_connected`, `p2proxy_ping_rtt_seconds`, `p2proxy_ping_failures_total`. A peer
 * counts once however many connections it has: `connection-disconnected` means its last connection
 * closed (docs/proxy-behaviour.md#losing-an-exit). The RTT histogram has no peer label, so its
 * series do not grow with the number of exits seen.
 */
export const nodeMetrics: MetricSet = ({ registry }) => {
  const peers = new ActiveSet<PeerId>();
  const peersConnected = gauge(registry, "peers_connected", "Peers with an open connection.");
  const pingRtt = histogram(
    registry,
    "ping_rtt_seconds",
    "Round-trip time of liveness pings to connected peers.",
    PING_RTT_BUCKETS_SECONDS,
  );
  const pingFailures = counter(registry, "ping_failures_total", "Liveness pings that failed.");
  return {
    "connection-connected": (event) => peersConnected.set(peers.add(event.peerId)),
    "connection-disconnected": (event) => peersConnected.set(peers.delete(event.peerId)),
    "ping": (event) => observeMs(pingRtt, event.rttMs),
    "ping-failed": () => pingFailures.inc(),
  };
};
