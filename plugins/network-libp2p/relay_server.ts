/**
 * The hub's circuit relay v2 server (docs/hub-behaviour.md#circuit-relay) and the hook that gives
 * registered exits raised limits while everyone else keeps the defaults
 * (never unlimited: not an open relay).
 *
 * The hook: js-libp2p's relay server (`@libp2p/circuit-relay-v2` 4.2.13)
 * keeps one `RelayReservation` per peer in its `reservations` map and reads
 * `reservation.limit` each time it splices a relayed connection
 * (`handleConnect` → `createLimitedRelay`). It declares a
 * `relay:reservation` event but never dispatches it, and it fills in the
 * default limit when a reservation is created. So this wraps the map's `set`
 * (called on every creation and refresh of a reservation) to stamp the limit
 * the policy wants, and rewrites `limit` in place when the policy for a peer
 * changes. Connections already spliced keep the limit they started with.
 *
 * @module
 */
import { circuitRelayServer, type RelayReservation } from "@libp2p/circuit-relay-v2";
import type { PeerId as Libp2pPeerId } from "@libp2p/interface";
import { peerIdFromString } from "@libp2p/peer-id";
import { getLogger } from "@logtape/logtape";
import { describeError, P2proxyError } from "../../core/errors.ts";
import { asPeerId, type PeerId } from "../../core/ids.ts";
import type { RelayLimits, RelayServerControl } from "../../core/ports/relay_server.ts";

export type { RelayLimits, RelayServerControl };

const logger = getLogger(["p2proxy", "relay"]);

/** How the relay server is built. */
export interface RelayServerOptions {
  /** Reservations held at once; further ones are refused. */
  readonly maxReservations: number;
  /** Bytes per relayed connection for peers without raised limits (> 0: never unlimited). */
  readonly defaultDataLimitBytes: number;
  /** Lifetime of a relayed connection for peers without raised limits (> 0: never unlimited). */
  readonly defaultDurationLimitMs: number;
  /** How long a reservation lasts unless refreshed; js-libp2p's default is 2 hours. */
  readonly reservationTtlMs?: number;
}

/** Why the relay server cannot be built. */
export type RelayServerErrorCode = "bad-option";

/** The largest duration a relay `Limit` carries (a uint32 on the wire). */
const MAX_LIMIT_DURATION_MS = 4_294_967_295;

/** The libp2p service name the relay server is registered under. */
export const RELAY_SERVICE_NAME = "relay";

/** The part of js-libp2p's relay service this module touches. */
interface RelayService {
  readonly reservations: ReservationMap;
}

/** The relay's `PeerMap<RelayReservation>`, structurally (its package is not a direct dependency). */
interface ReservationMap {
  get(peer: Libp2pPeerId): RelayReservation | undefined;
  set(peer: Libp2pPeerId, reservation: RelayReservation): void;
  keys(): IterableIterator<Libp2pPeerId>;
}

/** The libp2p service factory of the relay server with these options (checked first). */
// deno-lint-ignore no-explicit-any
export function relayServerService(options: RelayServerOptions): (components: any) => unknown {
  checkOptions(options);
  return circuitRelayServer({
    reservations: {
      maxReservations: options.maxReservations,
      // Never false: that would make an open relay.
      applyDefaultLimit: true,
      defaultDataLimit: BigInt(options.defaultDataLimitBytes),
      defaultDurationLimit: options.defaultDurationLimitMs,
      ...(options.reservationTtlMs ? { reservationTtl: options.reservationTtlMs } : {}),
    },
  });
}

function checkOptions(options: RelayServerOptions): void {
  const positive = (name: string, value: number, max = Number.MAX_SAFE_INTEGER) => {
    if (Number.isSafeInteger(value) && value > 0 && value <= max) return;
    throw new P2proxyError<RelayServerErrorCode>(
      "bad-option",
      `Relay server option ${name} is ${value}; it must be a whole number from 1 to ${max} ` +
        "(the default limits are never unlimited, so the hub is not an open relay).",
    );
  };
  positive("maxReservations", options.maxReservations);
  positive("defaultDataLimitBytes", options.defaultDataLimitBytes);
  positive("defaultDurationLimitMs", options.defaultDurationLimitMs, MAX_LIMIT_DURATION_MS);
}

/** Wraps a started node's relay service; see the module doc for the hook. */
export class Libp2pRelayServerControl implements RelayServerControl {
  readonly defaultLimits: RelayLimits;
  readonly #reservations: ReservationMap;
  readonly #overrides = new Map<PeerId, RelayLimits>();
  readonly #listeners = new Set<(peer: PeerId) => void>();

  /** Installs the hook on `service.reservations`. */
  constructor(service: unknown, options: RelayServerOptions) {
    this.defaultLimits = {
      dataLimitBytes: options.defaultDataLimitBytes,
      durationLimitMs: options.defaultDurationLimitMs,
    };
    this.#reservations = (service as RelayService).reservations;
    const map = this.#reservations;
    const originalSet = map.set.bind(map);
    map.set = (peer, reservation) => {
      const id = asPeerId(peer.toString());
      reservation.limit = this.#limitFor(id);
      originalSet(peer, reservation);
      this.#notify(id);
    };
  }

  hasReservation(peer: PeerId): boolean {
    return this.#reservation(peer) !== undefined;
  }

  reservedPeers(): PeerId[] {
    return [...this.#reservations.keys()].map((peer) => asPeerId(peer.toString()));
  }

  reservationLimits(peer: PeerId): RelayLimits | undefined {
    const reservation = this.#reservation(peer);
    if (!reservation) return undefined;
    return {
      dataLimitBytes: Number(reservation.limit?.data ?? 0n),
      durationLimitMs: reservation.limit?.duration ?? 0,
    };
  }

  setPeerLimits(peer: PeerId, limits: RelayLimits | undefined): void {
    if (limits === undefined) this.#overrides.delete(peer);
    else this.#overrides.set(peer, limits);
    const reservation = this.#reservation(peer);
    if (reservation) reservation.limit = this.#limitFor(peer);
  }

  onReservation(listener: (peer: PeerId) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** js-libp2p's `Limit`: an absent field is unlimited. */
  #limitFor(peer: PeerId): RelayReservation["limit"] {
    const limits = this.#overrides.get(peer) ?? this.defaultLimits;
    const limit: { data?: bigint; duration?: number } = {};
    if (limits.dataLimitBytes > 0) limit.data = BigInt(limits.dataLimitBytes);
    if (limits.durationLimitMs > 0) {
      limit.duration = Math.min(limits.durationLimitMs, MAX_LIMIT_DURATION_MS);
    }
    return limit.data === undefined && limit.duration === undefined ? undefined : limit;
  }

  #reservation(peer: PeerId): RelayReservation | undefined {
    let id: Libp2pPeerId;
    try {
      id = peerIdFromString(peer);
    } catch {
      return undefined;
    }
    return this.#reservations.get(id);
  }

  #notify(peer: PeerId): void {
    for (const listener of this.#listeners) {
      try {
        listener(peer);
      } catch (error) {
        logger.error("A relay reservation listener failed: {error}", {
          error: describeError(error),
        });
      }
    }
  }
}
