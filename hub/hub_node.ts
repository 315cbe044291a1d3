/**
 * The hub role, assembled (docs/hub-behaviour.md): the directory server on the libp2p
 * node, the relay limit policy (raised limits for registered exits, the
 * defaults for everyone else) and the expiry sweeper.
 *
 * Expiry is decided at query time with the clock, so an exit that missed its
 * heartbeats is never returned even before a sweep. The sweeper (a real
 * timer, every heartbeat interval) only removes expired records from the
 * registry, forgets them in the rotation and puts their relay limits back to
 * the defaults. With a registry shared by several hubs, any hub may sweep a
 * record; each hub also re-checks the exits it raised limits for.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { HubConfig } from "../core/config/hub_config.ts";
import { ExitRotation, isExpired } from "../core/domain/registry.ts";
import { describeError } from "../core/errors.ts";
import type { PeerId } from "../core/ids.ts";
import type { Clock } from "../core/ports/clock.ts";
import type { EventSink } from "../core/ports/event_sink.ts";
import type { GeoIp } from "../core/ports/geoip.ts";
import type { NetworkNode } from "../core/ports/network.ts";
import type { ExitRegistration, RegistryStore } from "../core/ports/registry_store.ts";
import type { RelayLimits, RelayServerControl } from "../core/ports/relay_server.ts";
import {
  type DirectoryCounters,
  DirectoryServer,
  type VerifyDirectoryToken,
} from "./directory_server.ts";

const logger = getLogger(["p2proxy", "hub"]);

/** What the hub is built from. */
export interface HubNodeDeps {
  /** The hub config's heartbeat, expiry, relay limits and FindNodes cap. */
  readonly config: Pick<
    HubConfig,
    "heartbeatIntervalMs" | "missedHeartbeats" | "relay" | "findNodesMax"
  >;
  /** The hub's node; one that runs a relay server (`network.relayServer`) brings its relay. */
  readonly network: NetworkNode;
  /** Where registrations are kept (memory, or Deno KV shared by several hubs). */
  readonly registry: RegistryStore;
  /** Decides registration times and expiry. */
  readonly clock: Clock;
  /** Not used yet: the hub reports through `metrics()` (no hub event types in core/events.ts). */
  readonly events?: EventSink;
  /** Token check for directory requests; absent = auth off. */
  readonly verifyToken?: VerifyDirectoryToken;
  /** Locates exits' observed addresses (verified locations); absent = declared values stand. */
  readonly geoip?: GeoIp;
  /** The relay server to apply limits to; default: `network.relayServer` when it has one. */
  readonly relay?: RelayServerControl;
  /** How often expired exits are swept; default: the heartbeat interval. */
  readonly sweepIntervalMs?: number;
}

/** Hub figures for `p2proxy_hub_*` metrics. */
export interface HubMetrics extends DirectoryCounters {
  /** Unexpired exits in the registry (as of the last sweep or `metrics()` call). */
  readonly registeredExits: number;
  /** Relay reservations held now. */
  readonly relayReservations: number;
  /** Reservations whose limits are raised (registered exits). */
  readonly raisedRelayLimits: number;
  /** Exits forgotten by the sweeper after missing their heartbeats. */
  readonly expiredExits: number;
}

/** A running hub. */
export class HubNode {
  /** The directory server (counters, active requests). */
  readonly server: DirectoryServer;
  readonly #deps: HubNodeDeps;
  readonly #rotation: ExitRotation;
  readonly #relay: RelayServerControl | undefined;
  /** Exits this hub raised relay limits for. */
  readonly #raised = new Set<PeerId>();
  readonly #unsubscribe: () => void;
  #sweepTimer: ReturnType<typeof setTimeout> | undefined;
  #sweeping: Promise<unknown> = Promise.resolve();
  #expiredExits = 0;
  #registeredExits = 0;
  #stopped = false;

  private constructor(
    deps: HubNodeDeps,
    server: DirectoryServer,
    rotation: ExitRotation,
    relay: RelayServerControl | undefined,
  ) {
    this.#deps = deps;
    this.server = server;
    this.#rotation = rotation;
    this.#relay = relay;
    this.#unsubscribe = relay?.onReservation((peer) => this.#onReservation(peer)) ?? (() => {});
  }

  /** Serves the directory, applies the relay policy and starts the sweeper. */
  static async start(deps: HubNodeDeps): Promise<HubNode> {
    const relay = deps.relay ?? deps.network.relayServer;
    if (!relay) {
      logger.warn("The hub runs no circuit relay: exits behind NAT cannot be reached through it.");
    }
    const rotation = new ExitRotation();
    const built: { hub?: HubNode } = {};
    // Registrations accepted before the hub object exists (a few microseconds) are raised after.
    const early: PeerId[] = [];
    const server = await DirectoryServer.start({
      network: deps.network,
      registry: deps.registry,
      clock: deps.clock,
      heartbeatIntervalMs: deps.config.heartbeatIntervalMs,
      missedHeartbeats: deps.config.missedHeartbeats,
      findNodesMax: deps.config.findNodesMax,
      rotation,
      ...(relay ? { holdsReservation: reservationCheck(relay) } : {}),
      onRegistered: (registration) => {
        if (built.hub) built.hub.#raise(registration.peerId);
        else early.push(registration.peerId);
      },
      ...(deps.verifyToken ? { verifyToken: deps.verifyToken } : {}),
      ...(deps.geoip ? { geoip: deps.geoip } : {}),
    });
    const hub = built.hub = new HubNode(deps, server, rotation, relay);
    for (const peer of early) hub.#raise(peer);
    hub.#scheduleSweep();
    return hub;
  }

  /** The limits registered exits get on relayed connections. */
  get exitRelayLimits(): RelayLimits {
    return {
      dataLimitBytes: this.#deps.config.relay.exitDataLimitBytes,
      durationLimitMs: this.#deps.config.relay.exitDurationLimitMs,
    };
  }

  /** Figures for metrics; counts the registry (one `list`). */
  async metrics(): Promise<HubMetrics> {
    const now = this.#deps.clock.now();
    const all = await this.#deps.registry.list();
    this.#registeredExits = all.filter((r) => !isExpired(r, now)).length;
    return {
      ...this.server.counters,
      registeredExits: this.#registeredExits,
      relayReservations: this.#relay?.reservedPeers().length ?? 0,
      raisedRelayLimits: this.#raised.size,
      expiredExits: this.#expiredExits,
    };
  }

  /**
   * Removes expired exits now (the sweeper calls this every interval):
   * forgets them in the rotation and restores their relay limits. Resolves
   * with the ids removed.
   */
  sweep(): Promise<PeerId[]> {
    const run = this.#sweepOnce();
    this.#sweeping = run.catch(() => {});
    return run;
  }

  /** Stops the sweeper and the directory server; leaves the registry and the network to their owners. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#sweepTimer);
    this.#unsubscribe();
    await this.server.stop();
    await this.#sweeping;
  }

  async #sweepOnce(): Promise<PeerId[]> {
    const now = this.#deps.clock.now();
    const all = await this.#deps.registry.list();
    const expired = all.filter((r) => isExpired(r, now));
    const removed: PeerId[] = [];
    for (const registration of expired) {
      // Removed only when still expired: another hub sharing the registry may just have renewed it.
      const current = await this.#deps.registry.get(registration.peerId);
      if (current && !isExpired(current, now)) continue;
      if (current) await this.#deps.registry.remove(registration.peerId);
      this.#forget(registration.peerId);
      removed.push(registration.peerId);
    }
    await this.#recheckRaised(now, new Set(removed));
    this.#registeredExits = all.length - expired.length;
    this.#expiredExits += removed.length;
    if (removed.length > 0) {
      logger.info("Forgot {count} exits that missed their heartbeats: {peers}.", {
        count: removed.length,
        peers: removed.join(", "),
      });
    }
    return removed;
  }

  /** Exits raised here whose record another hub swept (shared registry) get the defaults back. */
  async #recheckRaised(now: number, alreadyForgotten: ReadonlySet<PeerId>): Promise<void> {
    for (const peer of [...this.#raised]) {
      if (alreadyForgotten.has(peer)) continue;
      const current = await this.#deps.registry.get(peer);
      if (!current || isExpired(current, now)) this.#forget(peer);
    }
  }

  #forget(peer: PeerId): void {
    this.#rotation.forget(peer);
    if (this.#raised.delete(peer)) this.#relay?.setPeerLimits(peer, undefined);
  }

  #raise(peer: PeerId): void {
    if (!this.#relay || this.#stopped) return;
    this.#raised.add(peer);
    this.#relay.setPeerLimits(peer, this.exitRelayLimits);
  }

  /**
   * A reservation was made or refreshed: a registered exit (perhaps one that
   * registered through another hub sharing the registry, or before this hub
   * restarted) gets its raised limits.
   */
  #onReservation(peer: PeerId): void {
    if (this.#raised.has(peer) || this.#stopped) return;
    this.#deps.registry.get(peer).then(
      (registration: ExitRegistration | undefined) => {
        if (registration && !isExpired(registration, this.#deps.clock.now())) this.#raise(peer);
      },
      (error: unknown) =>
        logger.warn("Could not look up {peer} for its relay limits: {error}", {
          peer,
          error: describeError(error),
        }),
    );
  }

  #scheduleSweep(): void {
    if (this.#stopped) return;
    const intervalMs = this.#deps.sweepIntervalMs ?? this.#deps.config.heartbeatIntervalMs;
    this.#sweepTimer = setTimeout(() => {
      this.sweep()
        .catch((error) =>
          logger.error("Sweeping expired exits failed: {error}", { error: describeError(error) })
        )
        .finally(() => this.#scheduleSweep());
    }, intervalMs);
  }
}

/**
 * `holdsReservation` for the directory server: FindNodes asks it for every
 * candidate, and asking the relay parses the peer id each time (~10 µs: 5 ms
 * for 500 candidates). So the reserved peers (at most `max_reservations`) are
 * read once and kept until the current synchronous pass ends.
 */
function reservationCheck(relay: RelayServerControl): (peer: PeerId) => boolean {
  let reserved: Set<PeerId> | undefined;
  return (peer) => {
    if (!reserved) {
      reserved = new Set(relay.reservedPeers());
      queueMicrotask(() => reserved = undefined);
    }
    return reserved.has(peer);
  };
}
