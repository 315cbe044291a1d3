/**
 * Dialing and connection state, owned by the network actor.
 *
 * @module
 */
import { P2proxyError } from "../errors.ts";
import type { Multiaddr, PeerId, Route } from "../ids.ts";

/** Dials peers and says who is connected. */
export interface Dialer {
  /**
   * Dials every address in one race and resolves with the peer of the first
   * connection that lands. Rejects with `DialError` `none-connected` when none
   * does before the dial deadline, `shutdown` when the node is stopping.
   */
  dialAny(addresses: readonly Multiaddr[], signal?: AbortSignal): Promise<PeerId>;
  /** True while at least one connection to `peer` is open. */
  isConnected(peer: PeerId): boolean;
  /** The route of the best open connection to `peer` (direct before relayed). */
  connectedRoute(peer: PeerId): Route | undefined;
}

/** Why a dial failed. */
export type DialErrorCode = "none-connected" | "shutdown";

/** A failed dial. */
export class DialError extends P2proxyError<DialErrorCode> {}
