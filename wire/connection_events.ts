/**
 * Turns the network's connection events into p2proxy events: every opened
 * connection is `connection-connected` and `peer-route`; a peer whose LAST
 * connection closed is `connection-disconnected`.
 *
 * @module
 */
import type { EventSink } from "../core/ports/event_sink.ts";
import type { NetworkNode } from "../core/ports/network.ts";

/** Subscribes; returns the unsubscribe function. */
export function forwardConnectionEvents(
  network: Pick<NetworkNode, "onConnection">,
  events: EventSink,
): () => void {
  return network.onConnection(({ kind, connection, remaining }) => {
    const { peerId, address, relayed } = connection;
    if (kind === "open") {
      events.emit({ type: "connection-connected", peerId, address, relayed });
      events.emit({ type: "peer-route", peerId, address, relayed });
    } else if (remaining === 0) {
      events.emit({ type: "connection-disconnected", peerId });
    }
  });
}
