/**
 * The hub's registry of exits (docs/hub-behaviour.md): what each registered exit said about
 * itself and until when the hub believes it. The rules (validation, expiry,
 * selection) are pure and live in `domain/registry.ts`; a store only keeps
 * records, so that several hubs can share one registry (Deno KV).
 *
 * @module
 */
import type { ExitAttributes } from "../domain/attributes.ts";
import type { LocationCheck } from "../domain/verified_location.ts";
import type { Multiaddr, PeerId } from "../ids.ts";

/** One registered exit, as a hub stored it on the exit's last heartbeat. */
export interface ExitRegistration {
  /** The exit: always the remote peer of the connection it registered on. */
  readonly peerId: PeerId;
  /**
   * What the exit said about itself, validated and normalised by the hub;
   * with a geolocation database, its located fields are the database's
   * (see {@link location}).
   */
  readonly attributes: ExitAttributes;
  /**
   * Where the hub located the address the registration came from, and which
   * declared values it replaced; absent when the hub has no geolocation
   * database (or for records of older versions).
   */
  readonly location?: LocationCheck;
  /** Direct (non-circuit) addresses, each ending in `/p2p/<peerId>`, in the exit's order. */
  readonly addresses: readonly Multiaddr[];
  /** The exit said it is reachable through the hub's relay. */
  readonly relayed: boolean;
  /**
   * Circuits through the hubs whose relay holds the exit's reservation
   * (`<hub>/p2p-circuit/p2p/<peerId>`), so that any hub sharing the registry
   * can hand out a route through the hub the exit holds its relay slot on:
   * the routes of {@link relaySlots}, freshest hub first.
   */
  readonly relayRoutes: readonly Multiaddr[];
  /**
   * Which hubs' relays hold the exit's reservation, each as that hub last
   * recorded it. Absent in records written before hubs shared relay routes
   * (read as none).
   */
  readonly relaySlots?: readonly RelaySlot[];
  /** First registration, in ms since the Unix epoch (kept across heartbeats). */
  readonly registeredAt: number;
  /** Last heartbeat, in ms since the Unix epoch. */
  readonly lastSeenAt: number;
  /** When the hub forgets the exit unless it re-registers, in ms since the Unix epoch. */
  readonly expiresAt: number;
}

/** One hub whose relay holds an exit's reservation, as that hub last recorded it. */
export interface RelaySlot {
  /** The hub's peer id. */
  readonly hub: PeerId;
  /** Circuits through that hub, each `<hub address>/p2p-circuit/p2p/<exit>`. */
  readonly routes: readonly Multiaddr[];
  /**
   * When that hub last accepted the exit's registration, in ms since the Unix
   * epoch; the slot is dropped once it is as old as an expired record.
   */
  readonly seenAt: number;
}

/**
 * What a store may narrow a `FindNodes` by. Both fields are exact values of
 * the record's attributes; absent means "any".
 */
export interface RegistryQuery {
  /** ISO 3166-1 alpha-2, upper case: only records with this country. */
  readonly country?: string;
  /** Only records with this autonomous system number. */
  readonly asn?: number;
}

/**
 * Keeps registrations. Implementations copy records both ways (a caller
 * mutating a record never changes the store) and never validate: the hub
 * only writes records `domain/registry.ts` produced. Expired records are
 * returned until removed: callers decide expiry with their clock.
 */
export interface RegistryStore {
  /** Adds or replaces the record of `registration.peerId`. */
  put(registration: ExitRegistration): Promise<void>;
  /** The record of `peer`, or undefined. */
  get(peer: PeerId): Promise<ExitRegistration | undefined>;
  /** Every record, in no particular order. */
  list(): Promise<ExitRegistration[]>;
  /**
   * Records that may match `query`, without reading every record (an index):
   * at least every record whose attributes have `query.country` and
   * `query.asn` (those given); more is allowed, since the hub applies the
   * whole filter to what it gets. Expired records may be included. Absent:
   * the hub calls {@link list}.
   */
  find?(query: RegistryQuery): Promise<ExitRegistration[]>;
  /** Forgets `peer`; true when there was a record. */
  remove(peer: PeerId): Promise<boolean>;
  /** Releases what the store holds (a database handle). Safe to call twice. */
  close?(): Promise<void>;
}
