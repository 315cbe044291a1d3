/**
 * The discovery actor (ARCHITECTURE.md, "The two actors"): owns the sticky state and the active
 * exit of every server, and drives the core's connect algorithm. Sessions read the active exit as a
 * plain field (no message round trip on the hot path); everything that changes it runs here.
 *
 * - start: one connect per server, retried in the background forever;
 * - loss: a peer is lost when its LAST connection closes; its ports
 *   rediscover (avoiding it), at once the first time and then at most once
 *   per cooldown — unless a client is waiting (JIT), which never waits;
 * - JIT: a client on a port with no exit waits up to 30 s for the port's one
 *   shared connect (SingleFlight: 20 waiters, one discovery);
 * - prefer direct: a direct connection to a pool member replaces a relayed exit;
 * - liveness: ping active exits every 15 s, 10 s timeout, 3 strikes hang up;
 * - manual selection; unusable exits (no connect protocol) are forgotten.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { JIT_WAIT_MS, REDISCOVERY_COOLDOWN_MS } from "../core/domain/constants.ts";
import {
  type ConnectedDestination,
  ExitConnectError,
  type ExitConnector,
  pinnedCandidateRoutes,
  retryForever,
  shouldPreferDirect,
} from "../core/domain/connect.ts";
import { serverFingerprint } from "../core/domain/fingerprint.ts";
import {
  filterConflict,
  hardPinConflict,
  type ManualChoiceConflict,
  needsFilterCheck,
  type PeerAttributesLookup,
} from "../core/domain/manual_choice.ts";
import type { ExitSelectionSettings } from "../core/domain/server.ts";
import { SingleFlight } from "../core/domain/single_flight.ts";
import type { StickyState } from "../core/domain/sticky_state.ts";
import { describeError } from "../core/errors.ts";
import type { DestinationSource } from "../core/events.ts";
import { formatDelay } from "../core/format_delay.ts";
import { asMultiaddr, type Multiaddr, type PeerId } from "../core/ids.ts";
import type { Clock } from "../core/ports/clock.ts";
import type { EventSink } from "../core/ports/event_sink.ts";
import type { ConnectionEvent, NetworkNode } from "../core/ports/network.ts";
import type { PeerDirectory } from "../core/ports/peer_directory.ts";
import type { StickyStore } from "../core/ports/sticky_store.ts";

const logger = getLogger(["p2proxy", "discovery"]);

/**
 * Liveness (docs/proxy-behaviour.md#liveness): ping every 15 s, 10 s timeout, 3 strikes close the
 * connection.
 */
export const PING_INTERVAL_MS = 15_000;
/** See {@link PING_INTERVAL_MS}. */
export const PING_TIMEOUT_MS = 10_000;
/** See {@link PING_INTERVAL_MS}. */
export const PING_STRIKES = 3;

/**
 * How often a port served by a lower-ranked pinned exit tries to get back to a
 * better rank (docs/proxy-behaviour.md#pinned-exits): rank 0 returns within this.
 */
export const PINNED_RECLAIM_INTERVAL_MS = 10_000;

/** How long an exit that does not speak the connect protocol stays out of selection (it may be upgraded). */
export const UNUSABLE_EXIT_MS = 10 * 60_000;

/** Exits found not to speak the connect protocol, each until a deadline. */
export class UnusableExits {
  readonly #until = new Map<PeerId, number>();
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** Marks `peer` unusable for {@link UNUSABLE_EXIT_MS}. */
  add(peer: PeerId): void {
    this.#until.set(peer, this.#now() + UNUSABLE_EXIT_MS);
  }

  /** True while `peer` is marked. */
  has(peer: PeerId): boolean {
    const until = this.#until.get(peer);
    if (until === undefined) return false;
    if (until > this.#now()) return true;
    this.#until.delete(peer);
    return false;
  }
}

/** A server's current exit. */
export interface ActiveExit {
  readonly peerId: PeerId;
  readonly source: DestinationSource;
}

/** A manual selection's request: who asks, and whether the config's promises may be broken. */
export interface ManualSelectionRequest {
  /** Who or what asks, for the log line: e.g. `admin API from 127.0.0.1:53012`. */
  readonly by: string;
  /**
   * Choose the peer even when it contradicts the port's hard pin or filters
   * (neither is then checked). Default false: such a choice is refused.
   */
  readonly override?: boolean;
}

/** What a manual selection came to. */
export type ManualSelectionOutcome =
  /** The peer was reached and is the port's exit now. */
  | { readonly kind: "selected"; readonly exit: ActiveExit }
  /** The choice contradicts the port's config and was not overridden; nothing was dialled. */
  | { readonly kind: "refused"; readonly conflict: ManualChoiceConflict }
  /** The peer could not be reached; the port keeps its exit. */
  | { readonly kind: "unreachable" }
  /** No server listens on that port. */
  | { readonly kind: "unknown-port" };

/** What the actor works with. */
export interface DiscoveryActorDeps {
  readonly servers: readonly ExitSelectionSettings[];
  readonly network: Pick<
    NetworkNode,
    "onConnection" | "ping" | "hangUp" | "connectedRoute" | "dialAny"
  >;
  /** Resolves pinned peers to routes when a better rank is retried. */
  readonly directory: PeerDirectory;
  readonly connector: ExitConnector;
  readonly sticky: StickyState;
  /** Shared with the connector (`isUnusable`), so selection skips these exits. */
  readonly unusable: UnusableExits;
  readonly store: StickyStore;
  readonly clock: Clock;
  readonly events: EventSink;
  /** Overrides for tests (defaults: the documented values, docs/proxy-behaviour.md#timings). */
  readonly timings?: Partial<{
    rediscoveryCooldownMs: number;
    jitWaitMs: number;
    pingIntervalMs: number;
    pingTimeoutMs: number;
    pinnedReclaimIntervalMs: number;
  }>;
}

/** Chooses, keeps and replaces the exit of every server. */
export class DiscoveryActor {
  readonly #deps: DiscoveryActorDeps;
  readonly #servers: Map<number, ExitSelectionSettings>;
  readonly #active = new Map<number, ActiveExit>();
  readonly #flights = new SingleFlight<number, ConnectedDestination>();
  readonly #lastRediscovery = new Map<number, number>();
  /**
   * Hard-pinned ports (no fallback) whose pinned exits all failed a whole
   * connect: new clients are answered at once instead of waiting out the JIT
   * window, while the background retries go on.
   */
  readonly #pinnedDown = new Set<number>();
  /** Manual selections per port, so a connect in flight can tell it was overtaken by one. */
  readonly #manualChoices = new Map<number, number>();
  /** The exit each port lost and has not replaced yet: a JIT connect must treat it as lost too. */
  readonly #lost = new Map<number, PeerId>();
  readonly #scheduled = new Set<number>();
  readonly #strikes = new Map<PeerId, number>();
  readonly #stop = new AbortController();
  #unsubscribe: (() => void) | undefined;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #reclaimTimer: ReturnType<typeof setInterval> | undefined;
  #reclaiming = false;
  #saving: Promise<void> = Promise.resolve();
  readonly #timings: Required<NonNullable<DiscoveryActorDeps["timings"]>>;

  constructor(deps: DiscoveryActorDeps) {
    this.#deps = deps;
    this.#servers = new Map(deps.servers.map((s) => [s.port, s]));
    this.#timings = {
      rediscoveryCooldownMs: deps.timings?.rediscoveryCooldownMs ?? REDISCOVERY_COOLDOWN_MS,
      jitWaitMs: deps.timings?.jitWaitMs ?? JIT_WAIT_MS,
      pingIntervalMs: deps.timings?.pingIntervalMs ?? PING_INTERVAL_MS,
      pingTimeoutMs: deps.timings?.pingTimeoutMs ?? PING_TIMEOUT_MS,
      pinnedReclaimIntervalMs: deps.timings?.pinnedReclaimIntervalMs ?? PINNED_RECLAIM_INTERVAL_MS,
    };
  }

  /** Subscribes to connection events and starts one background connect per server. */
  start(): void {
    this.#unsubscribe = this.#deps.network.onConnection((event) => this.#onConnection(event));
    for (const port of this.#servers.keys()) {
      this.#deps.events.emit({ type: "active-destination", port });
      this.#connect(port, undefined).catch(() => {});
    }
    this.#pingTimer = setInterval(() => this.#pingActiveExits(), this.#timings.pingIntervalMs);
    if ([...this.#servers.values()].some((s) => s.pinned.length > 1)) {
      this.#reclaimTimer = setInterval(
        () => this.#reclaimPinnedRanks(),
        this.#timings.pinnedReclaimIntervalMs,
      );
    }
  }

  /** Cancels every connect, stops pinging, saves the sticky state. */
  async stop(): Promise<void> {
    this.#stop.abort(new Error("The proxy is stopping."));
    this.#unsubscribe?.();
    if (this.#pingTimer !== undefined) clearInterval(this.#pingTimer);
    if (this.#reclaimTimer !== undefined) clearInterval(this.#reclaimTimer);
    this.#persist();
    await this.#saving;
  }

  /** The active exit of a port: the hot path reads this plain value. */
  activeExit(port: number): ActiveExit | undefined {
    return this.#active.get(port);
  }

  /**
   * The exit for a new session: the active one, or (JIT) the result of the
   * port's one shared connect within the JIT wait. Undefined when none came.
   */
  async exitForSession(port: number, signal?: AbortSignal): Promise<PeerId | undefined> {
    const active = this.#active.get(port);
    if (active) return active.peerId;
    if (this.#pinnedDown.has(port)) return undefined;
    this.#deps.events.emit({ type: "jit-discovery", port });
    const wait = AbortSignal.timeout(this.#timings.jitWaitMs);
    const combined = signal ? AbortSignal.any([wait, signal]) : wait;
    try {
      // After a loss, the lost exit gets its `sticky_reconnect` treatment here too (with-backoff
      // retries it, fail-fast skips it): a client arriving during the cooldown must not bypass it.
      const destination = await this.#connect(port, this.#lost.get(port), combined);
      return destination.peerId;
    } catch {
      return this.#active.get(port)?.peerId;
    }
  }

  /**
   * Manual selection (TUI, admin API): reach `peer` and make it the port's
   * exit. A choice that contradicts the port's hard pin or filters is refused
   * before anything is dialled unless `request.override` says so; the peer's
   * attributes come from the directory. Every change is logged with
   * `request.by`. An unreachable peer leaves the active exit as it was.
   */
  async selectExit(
    port: number,
    peer: PeerId,
    request: ManualSelectionRequest,
  ): Promise<ManualSelectionOutcome> {
    const server = this.#servers.get(port);
    if (!server) return { kind: "unknown-port" };
    if (request.override !== true) {
      const conflict = hardPinConflict(server, peer) ?? await this.#filterConflict(server, peer);
      if (conflict) {
        logger.warn("Refused exit {peer} for port {port}, chosen by {by}: {reason}", {
          peer,
          port,
          by: request.by,
          reason: conflict.message,
        });
        return { kind: "refused", conflict };
      }
    }
    const destination = await this.#deps.connector.selectPeer(server, peer, this.#stop.signal);
    if (!destination) {
      logger.warn(
        "Could not reach exit {peer} for port {port}, chosen by {by}; it keeps its exit.",
        {
          peer,
          port,
          by: request.by,
        },
      );
      return { kind: "unreachable" };
    }
    // A connect already running for this port must not undo the operator's choice when it lands.
    this.#manualChoices.set(port, (this.#manualChoices.get(port) ?? 0) + 1);
    this.#setActive(server, destination, request);
    return { kind: "selected", exit: { peerId: destination.peerId, source: destination.source } };
  }

  async #filterConflict(
    server: ExitSelectionSettings,
    peer: PeerId,
  ): Promise<ManualChoiceConflict | undefined> {
    if (!needsFilterCheck(server, peer)) return undefined;
    return filterConflict(server, peer, await this.#lookUpAttributes(peer));
  }

  /** What the hub says `peer` is; a failure is a reason, not an error: the caller refuses. */
  async #lookUpAttributes(peer: PeerId): Promise<PeerAttributesLookup> {
    let records;
    try {
      records = await this.#deps.directory.describePeers([peer], this.#stop.signal);
    } catch (error) {
      return { known: false, reason: `the hub could not be asked: ${describeError(error)}` };
    }
    const record = records.get(peer);
    if (!record) {
      return {
        known: false,
        reason: "the hub does not know it: it is not registered, or its registration expired",
      };
    }
    if (!record.attributes) return { known: false, reason: "the hub sent no attributes for it" };
    return { known: true, attributes: record.attributes };
  }

  /**
   * A session found that `peer` does not speak the connect protocol: forget it
   * everywhere and find other exits for the ports it served.
   */
  reportUnusable(peer: PeerId): void {
    logger.warn(
      "Exit {peer} does not speak the connect protocol; not choosing it for {minutes} min.",
      {
        peer,
        minutes: UNUSABLE_EXIT_MS / 60_000,
      },
    );
    this.#deps.unusable.add(peer);
    this.#deps.connector.markUnusable(peer);
    this.#persist();
    for (const [port, active] of this.#active) {
      if (active.peerId !== peer) continue;
      this.#clearActive(port);
      this.#connect(port, undefined).catch(() => {});
    }
  }

  #connect(
    port: number,
    avoid: PeerId | undefined,
    waiterSignal?: AbortSignal,
  ): Promise<ConnectedDestination> {
    const server = this.#servers.get(port);
    if (!server) return Promise.reject(new Error(`No server on port ${port}.`));
    return this.#flights.run(port, () => this.#connectUntilDone(server, avoid), waiterSignal);
  }

  async #connectUntilDone(
    server: ExitSelectionSettings,
    avoid: PeerId | undefined,
  ): Promise<ConnectedDestination> {
    // Only a connect after a loss is a rediscovery (docs/proxy-behaviour.md#losing-an-exit): the
    // start-up connect must not throttle the first loss.
    if (avoid !== undefined) this.#lastRediscovery.set(server.port, this.#deps.clock.now());
    const manualBefore = this.#manualChoices.get(server.port) ?? 0;
    this.#deps.events.emit({ type: "connection-connecting", port: server.port });
    const destination = await retryForever(
      (attempt) =>
        this.#deps.connector.connect(server, {
          ...(attempt === 0 && avoid ? { avoid } : {}),
          signal: this.#stop.signal,
        }),
      {
        clock: this.#deps.clock,
        signal: this.#stop.signal,
        onFailure: (error, delayMs) => {
          if (error instanceof ExitConnectError && error.code === "pinned-exhausted") {
            this.#pinnedDown.add(server.port);
          }
          // The connector has said why (an `error` event); this line says when it tries again.
          const expected = error instanceof ExitConnectError;
          logger[expected ? "info" : "warn"](
            expected
              ? "Port {port}: looking for an exit again in {retryIn}."
              : "Port {port}: looking for an exit failed ({error}); trying again in {retryIn}.",
            { port: server.port, error: describeError(error), retryIn: formatDelay(delayMs) },
          );
        },
      },
    );
    const chosenMeanwhile = (this.#manualChoices.get(server.port) ?? 0) !== manualBefore;
    const active = this.#active.get(server.port);
    if (chosenMeanwhile && active) return { peerId: active.peerId, source: active.source };
    this.#setActive(server, destination);
    return destination;
  }

  /** Adopts `destination`; `manual` names who chose it, for the log line. */
  #setActive(
    server: ExitSelectionSettings,
    destination: ConnectedDestination,
    manual?: ManualSelectionRequest,
  ): void {
    this.#lost.delete(server.port);
    this.#pinnedDown.delete(server.port);
    this.#active.set(server.port, { peerId: destination.peerId, source: destination.source });
    this.#deps.events.emit({
      type: "active-destination",
      port: server.port,
      peerId: destination.peerId,
      source: destination.source,
    });
    if (manual) {
      const template = manual.override === true
        ? "Port {port} now leaves through {peer} ({source}), chosen by {by} with override: " +
          "its pin and filters were not checked."
        : "Port {port} now leaves through {peer} ({source}), chosen by {by}.";
      logger.info(template, {
        port: server.port,
        peer: destination.peerId,
        source: destination.source.kind,
        by: manual.by,
      });
    } else {
      logger.info("Port {port} now leaves through {peer} ({source}).", {
        port: server.port,
        peer: destination.peerId,
        source: destination.source.kind,
      });
    }
    this.#persist();
  }

  #clearActive(port: number): void {
    this.#active.delete(port);
    this.#deps.events.emit({ type: "active-destination", port });
  }

  #onConnection(event: ConnectionEvent): void {
    const { connection } = event;
    if (event.kind === "open") return this.#onOpen(event);
    if (event.remaining > 0) return;
    this.#strikes.delete(connection.peerId);
    for (const [port, active] of this.#active) {
      if (active.peerId !== connection.peerId) continue;
      logger.warn("Lost exit {peer} of port {port}.", { peer: active.peerId, port });
      this.#lost.set(port, active.peerId);
      this.#clearActive(port);
      this.#scheduleRediscovery(port, active.peerId);
    }
  }

  #onOpen(event: ConnectionEvent): void {
    const { connection } = event;
    if (!connection.relayed) {
      const bare = connection.address.replace(/\/p2p\/[^/]+$/, "");
      if (
        this.#deps.sticky.noteDirectAddress(
          connection.peerId,
          asMultiaddr(bare),
          this.#deps.clock.now(),
        )
      ) {
        this.#persist();
      }
    }
    for (const server of this.#servers.values()) {
      const active = this.#active.get(server.port);
      const switchToDirect = shouldPreferDirect({
        active: active?.peerId,
        activeSource: active?.source,
        activeRoute: active ? this.#deps.network.connectedRoute(active.peerId) : undefined,
        candidate: connection.peerId,
        candidateRoute: { address: connection.address, relayed: connection.relayed },
        pool: this.#deps.sticky.pool(server.port, serverFingerprint(server.port, server.filters)),
      });
      if (!switchToDirect) continue;
      this.#setActive(
        server,
        this.#deps.connector.adopt(server, connection.peerId, { kind: "sticky" }),
      );
    }
  }

  /** Rediscovers at once, unless this port rediscovered within the cooldown (then later, once). */
  #scheduleRediscovery(port: number, lost: PeerId): void {
    if (this.#flights.has(port) || this.#scheduled.has(port)) return;
    const since = this.#deps.clock.now() - (this.#lastRediscovery.get(port) ?? -Infinity);
    const delay = Math.max(0, this.#timings.rediscoveryCooldownMs - since);
    if (delay === 0) {
      this.#connect(port, lost).catch(() => {});
      return;
    }
    logger.info(
      "Rediscovery for port {port} throttled for {delay} ms (a client arriving sooner triggers it).",
      {
        port,
        delay,
      },
    );
    this.#scheduled.add(port);
    this.#deps.clock.sleep(delay, this.#stop.signal).then(
      () => {
        this.#scheduled.delete(port);
        // The port may have lost another exit while this waited: avoid the latest one.
        if (!this.#active.has(port)) {
          this.#connect(port, this.#lost.get(port) ?? lost).catch(() => {});
        }
      },
      () => this.#scheduled.delete(port),
    );
  }

  #pingActiveExits(): void {
    const peers = new Set([...this.#active.values()].map((a) => a.peerId));
    for (const peer of peers) {
      this.#deps.network.ping(peer, AbortSignal.timeout(this.#timings.pingTimeoutMs)).then(
        (rttMs) => {
          this.#strikes.delete(peer);
          this.#deps.events.emit({ type: "ping", peerId: peer, rttMs });
        },
        (error) => {
          const strikes = (this.#strikes.get(peer) ?? 0) + 1;
          this.#strikes.set(peer, strikes);
          this.#deps.events.emit({ type: "ping-failed", peerId: peer, strikes });
          logger.warn("Ping to exit {peer} failed ({strikes}/{max}): {error}", {
            peer,
            strikes,
            max: PING_STRIKES,
            error: describeError(error),
          });
          if (strikes >= PING_STRIKES) {
            this.#strikes.delete(peer);
            this.#deps.network.hangUp(peer).catch(() => {});
          }
        },
      );
    }
  }

  /**
   * A port on pinned rank r > 0 tries ranks 0..r-1 again (one pass at a time,
   * never blocking sessions): the first that connects becomes the exit for new
   * sessions; sessions already running stay where they are.
   */
  #reclaimPinnedRanks(): void {
    if (this.#reclaiming) return;
    this.#reclaiming = true;
    this.#reclaimOnce().finally(() => (this.#reclaiming = false));
  }

  async #reclaimOnce(): Promise<void> {
    for (const server of this.#servers.values()) {
      const active = this.#active.get(server.port);
      if (active?.source.kind !== "pinned" || active.source.rank === 0) continue;
      const better = server.pinned.slice(0, active.source.rank);
      let resolved = new Map<PeerId, Multiaddr[]>();
      try {
        resolved = await this.#deps.directory.resolvePeers(
          better.map((p) => p.peerId),
          this.#stop.signal,
        );
      } catch {
        // No hub, or it failed: the verbatim multiaddrs are still worth a try.
      }
      for (const [rank, entry] of better.entries()) {
        if (this.#deps.unusable.has(entry.peerId)) continue;
        const routes = pinnedCandidateRoutes(entry, resolved);
        if (routes.length === 0) continue;
        try {
          const peerId = await this.#deps.network.dialAny(routes, this.#stop.signal);
          if (peerId !== entry.peerId) continue;
        } catch {
          continue;
        }
        if (this.#stop.signal.aborted) return;
        logger.info("Pinned rank {rank} of port {port} is back.", { rank, port: server.port });
        this.#setActive(server, { peerId: entry.peerId, source: { kind: "pinned", rank } });
        break;
      }
    }
  }

  /** Saves the sticky state when it changed; saves run one after another. */
  #persist(): void {
    const sticky = this.#deps.sticky;
    if (!sticky.dirty) return;
    this.#saving = this.#saving.then(async () => {
      if (!sticky.dirty) return;
      const revision = sticky.revision;
      await this.#deps.store.save(sticky.toRecord());
      sticky.markClean(revision);
    }).catch((error) =>
      logger.warn("Saving the sticky pools failed: {error}", { error: describeError(error) })
    );
  }
}
