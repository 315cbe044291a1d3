/**
 * The circuit relay server a hub's node may run (docs/hub-behaviour.md#circuit-relay): the hub
 * keeps libp2p's default limits for everyone and raises them for registered exits through this.
 *
 * @module
 */
import type { PeerId } from "../ids.ts";

/** Limits of one relayed connection; 0 means unlimited for that dimension. */
export interface RelayLimits {
  /** Bytes relayed per connection, both directions together; 0 = unlimited. */
  readonly dataLimitBytes: number;
  /** Lifetime of a relayed connection; 0 = unlimited. */
  readonly durationLimitMs: number;
}

/** What the hub controls on the relay server. */
export interface RelayServerControl {
  /** The limits every peer gets unless {@link setPeerLimits} raised them. */
  readonly defaultLimits: RelayLimits;
  /** True while `peer` holds a reservation. */
  hasReservation(peer: PeerId): boolean;
  /** Every peer holding a reservation. */
  reservedPeers(): PeerId[];
  /** The limits of `peer`'s current reservation; undefined when it holds none. */
  reservationLimits(peer: PeerId): RelayLimits | undefined;
  /**
   * Gives `peer` these limits now (if it holds a reservation) and whenever its
   * reservation is created or refreshed; `undefined` restores the defaults.
   */
  setPeerLimits(peer: PeerId, limits: RelayLimits | undefined): void;
  /** Called with the peer whenever a reservation is created or refreshed; returns the unsubscribe. */
  onReservation(listener: (peer: PeerId) => void): () => void;
}
