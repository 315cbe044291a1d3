/**
 * The connect algorithm (docs/proxy-behaviour.md#choosing-an-exit): how one server (SOCKS port)
 * gets an exit. Pinned peers in rank order; else the lost exit (with backoff), the sticky pool,
 * then discovery through the hub. It performs no I/O of its own: it asks the directory, the dialer
 * and the clock, mutates the pure sticky state, and reports through the event sink. The discovery
 * actor drives it one call at a time and owns the per-port active exit.
 *
 * @module
 */
import { describeError, P2proxyError } from "../errors.ts";
import type { DestinationSource, PinnedPeerStatus, PoolPeer } from "../events.ts";
import type { Multiaddr, PeerId, Route } from "../ids.ts";
import type { Clock } from "../ports/clock.ts";
import { type Dialer, DialError } from "../ports/dialer.ts";
import type { EventSink } from "../ports/event_sink.ts";
import { DirectoryError, type PeerDirectory, type PeerRecord } from "../ports/peer_directory.ts";
import { Backoff } from "./backoff.ts";
import { partitionDirectFirst, synthesizeCircuit, withPeerId } from "./circuit.ts";
import {
  BACKGROUND_RETRY_FACTOR,
  BACKGROUND_RETRY_INITIAL_MS,
  BACKGROUND_RETRY_MAX_MS,
  DISCOVERY_RETRY_INTERVAL_MS,
  FIND_NODES_LIMIT,
  MAX_DISCOVERY_ATTEMPTS,
  MAX_PINNED_PASSES,
  PINNED_PASS_INTERVAL_MS,
  PINNED_PASSES_BEFORE_FALLBACK,
  STICKY_RECONNECT_ATTEMPTS,
  STICKY_RECONNECT_FACTOR,
  STICKY_RECONNECT_INITIAL_MS,
  STICKY_RECONNECT_MAX_MS,
} from "./constants.ts";
import { describeFilters } from "./filters.ts";
import { serverFingerprint } from "./fingerprint.ts";
import type { ExitSelectionSettings, PinnedPeer } from "./server.ts";
import type { StickyState } from "./sticky_state.ts";

/** Why a connect gave up. */
export type ExitConnectErrorCode =
  /** A hard-pinned server could reach none of its pinned peers. */
  | "pinned-exhausted"
  /** Discovery found no reachable exit within its attempts. */
  | "discovery-exhausted"
  /** The caller's signal aborted, or the node is shutting down. */
  | "aborted";

/** A connect that gave up (the port stays without an exit until the next try). */
export class ExitConnectError extends P2proxyError<ExitConnectErrorCode> {
  /** The server's port, when the failure belongs to one. */
  readonly port: number | undefined;

  /** Builds the error; `options.port` names the server it belongs to. */
  constructor(
    code: ExitConnectErrorCode,
    message: string,
    options: ErrorOptions & { readonly port?: number } = {},
  ) {
    super(code, message, options);
    this.port = options.port;
  }
}

/** The exit a connect landed on, and how it was chosen. */
export interface ConnectedDestination {
  /** The exit peer. */
  readonly peerId: PeerId;
  /** Pinned (with rank), sticky, discovered or manual. */
  readonly source: DestinationSource;
}

/** What the connector works with. */
export interface ExitConnectorDeps {
  /** The hub's directory (find and resolve exits). */
  readonly directory: PeerDirectory;
  /** Dials routes; knows who is connected. */
  readonly dialer: Dialer;
  /** Every pause goes through it; its `now()` stamps remembered exits. */
  readonly clock: Clock;
  /** Where selection events go. */
  readonly events: EventSink;
  /** Mutated in place; the caller persists it when `sticky.dirty`. */
  readonly sticky: StickyState;
  /** The hub's relay, ending in `/p2p/<relayId>`; without it no circuit is synthesised. */
  readonly relayAddress?: Multiaddr;
  /** The server's filter fingerprint; defaults to `serverFingerprint(port, filters)`. */
  readonly fingerprint?: (server: ExitSelectionSettings) => string;
  /**
   * Peers known not to speak the connect protocol: never chosen (skipped in
   * every pass, excluded from discovery even as a last resort).
   */
  readonly isUnusable?: (peer: PeerId) => boolean;
}

/** Options of one connect. */
export interface ConnectOptions {
  /**
   * The exit just lost. With `with-backoff` it is retried first; it is then
   * forgotten, skipped in the pool walk and excluded from discovery.
   */
  readonly avoid?: PeerId;
  /** Aborting rejects the connect with `ExitConnectError` `aborted`. */
  readonly signal?: AbortSignal;
  /**
   * Discovery queries before giving up (default {@link MAX_DISCOVERY_ATTEMPTS}); a caller with
   * a client waiting on an answer, rather than a port to keep lit, asks fewer.
   */
  readonly discoveryAttempts?: number;
}

/**
 * Chooses and reaches exits for servers. One instance per discovery actor;
 * calls for one port must not overlap (share them with `SingleFlight`).
 *
 * @example
 * ```ts
 * const connector = new ExitConnector({ directory, dialer, clock, events, sticky, relayAddress });
 * const { peerId, source } = await connector.connect(server, { avoid: lostPeer, signal });
 * ```
 */
export class ExitConnector {
  readonly #deps: ExitConnectorDeps;

  /** The connector works on `deps`; it keeps no other state. */
  constructor(deps: ExitConnectorDeps) {
    this.#deps = deps;
  }

  /**
   * One bounded effort to give `server` an exit; the caller retries in the
   * background on failure (`retryForever`). Emits `pinned-statuses`,
   * `server-pool` and `error` along the way and `sticky-pool` at the end; the
   * caller emits `active-destination` when it adopts the result.
   *
   * @throws {ExitConnectError} `pinned-exhausted`, `discovery-exhausted` or `aborted`.
   */
  async connect(
    server: ExitSelectionSettings,
    options: ConnectOptions = {},
  ): Promise<ConnectedDestination> {
    const run = new Run(this.#deps, server, options.signal, options.discoveryAttempts);
    try {
      run.abortIfRequested();
      if (server.pinned.length > 0) return await run.connectPinned();
      return await run.connectDiscovered(options.avoid);
    } finally {
      this.emitStickyPool(server);
    }
  }

  /**
   * Tries to reach one peer for `server` without any discovery: its
   * remembered direct address, the hub's current routes, and a relay circuit
   * when the hub has none, raced direct-first. Resolves with the peer once a
   * connection lands, undefined when none does.
   *
   * @throws {ExitConnectError} `aborted`.
   */
  reachSpecificPeer(
    server: ExitSelectionSettings,
    peer: PeerId,
    signal?: AbortSignal,
  ): Promise<PeerId | undefined> {
    return new Run(this.#deps, server, signal).tryReachPeer(peer);
  }

  /**
   * Manual selection (the admin API): reach `peer` and adopt it as `manual`. When
   * it cannot be reached, emits an error and resolves undefined: the active
   * exit stays as it was.
   *
   * @throws {ExitConnectError} `aborted`.
   */
  async selectPeer(
    server: ExitSelectionSettings,
    peer: PeerId,
    signal?: AbortSignal,
  ): Promise<ConnectedDestination | undefined> {
    const reached = await this.reachSpecificPeer(server, peer, signal);
    if (reached !== undefined) return this.adopt(server, reached, { kind: "manual" });
    this.#deps.events.emit({
      type: "error",
      port: server.port,
      message: `Could not reach peer "${peer}" for port ${server.port}; the active exit is ` +
        `unchanged. Check that the peer is online and registered with the hub.`,
    });
    return undefined;
  }

  /**
   * Makes an already-connected `peer` the exit of `server`: remembers it (when
   * the server is sticky) and emits `sticky-pool`. Used for manual selection
   * and for switching off a relayed exit (`shouldPreferDirect`).
   */
  adopt(
    server: ExitSelectionSettings,
    peer: PeerId,
    source: DestinationSource,
  ): ConnectedDestination {
    rememberExit(this.#deps, server, this.#fingerprintOf(server), peer);
    this.emitStickyPool(server);
    return { peerId: peer, source };
  }

  /**
   * An exit that does not speak the connect protocol: forgets it from every
   * pool and emits `sticky-pool` for each changed port. Returns those ports;
   * the caller rediscovers (without `avoid` retries) for ports it was serving.
   */
  markUnusable(peer: PeerId): number[] {
    const ports = this.#deps.sticky.forgetEverywhere(peer);
    for (const port of ports) {
      this.#deps.events.emit({
        type: "sticky-pool",
        port,
        peers: this.#deps.sticky.snapshot(port),
      });
    }
    return ports;
  }

  /** Emits the remembered pool of `server` (its standby exits). */
  emitStickyPool(server: ExitSelectionSettings): void {
    this.#deps.events.emit({
      type: "sticky-pool",
      port: server.port,
      peers: this.#deps.sticky.snapshot(server.port, this.#fingerprintOf(server)),
    });
  }

  #fingerprintOf(server: ExitSelectionSettings): string {
    return fingerprintOf(this.#deps, server);
  }
}

/** The state of one connect call: its server, its signal, and the steps. */
class Run {
  readonly #deps: ExitConnectorDeps;
  readonly #server: ExitSelectionSettings;
  readonly #signal: AbortSignal | undefined;
  readonly #discoveryAttempts: number;

  constructor(
    deps: ExitConnectorDeps,
    server: ExitSelectionSettings,
    signal?: AbortSignal,
    discoveryAttempts = MAX_DISCOVERY_ATTEMPTS,
  ) {
    this.#deps = deps;
    this.#server = server;
    this.#signal = signal;
    this.#discoveryAttempts = Math.max(1, discoveryAttempts);
  }

  get #port(): number {
    return this.#server.port;
  }

  async connectPinned(): Promise<ConnectedDestination> {
    const pinned = this.#server.pinned;
    const ids = [...new Set(pinned.map((entry) => entry.peerId))];
    for (let pass = 1; pass <= MAX_PINNED_PASSES; pass++) {
      if (pass > 1) await this.#sleep(PINNED_PASS_INTERVAL_MS);
      const resolved = await this.#resolveRoutes(ids);
      this.#emitPinnedStatuses(resolved);
      const reached = await this.#dialPinnedInRankOrder(resolved);
      if (reached !== undefined) return reached;
      if (this.#server.fallbackToDiscovery && pass >= PINNED_PASSES_BEFORE_FALLBACK) {
        return await this.connectDiscovered(undefined);
      }
    }
    throw this.#giveUp(
      "pinned-exhausted",
      `None of the ${pinned.length} pinned peers of port ${this.#port} ` +
        `(${pinned.map((entry) => `"${entry.peerId}"`).join(", ")}) could be reached after ` +
        `${MAX_PINNED_PASSES} passes. Check that they are online and registered with the hub, ` +
        `or set fallback_to_discovery: true to allow other exits.`,
    );
  }

  async connectDiscovered(avoid: PeerId | undefined): Promise<ConnectedDestination> {
    const fingerprint = fingerprintOf(this.#deps, this.#server);
    if (avoid !== undefined && this.#server.sticky) {
      const kept = await this.#keepLostExit(avoid);
      if (kept !== undefined) return this.#adopted(fingerprint, kept, { kind: "sticky" });
      this.#deps.sticky.forgetPeer(this.#port, avoid);
    }
    const fromPool = await this.#walkStickyPool(fingerprint, avoid);
    if (fromPool !== undefined) return this.#adopted(fingerprint, fromPool, { kind: "sticky" });
    return await this.#discover(fingerprint, avoid);
  }

  /**
   * The remembered direct address, the hub's routes, and — when the hub has
   * none — a relay circuit, raced in one dial (direct first). A stale
   * remembered address (the peer's port rotated) then loses the race to a
   * fresh route instead of costing a whole dial timeout.
   */
  async tryReachPeer(peer: PeerId): Promise<PeerId | undefined> {
    this.abortIfRequested();
    const routes: Multiaddr[] = [];
    const remembered = this.#deps.sticky.directAddress(this.#port, peer);
    const tagged = remembered === undefined ? undefined : withPeerId(remembered, peer);
    if (tagged !== undefined) routes.push(tagged);
    const resolved = (await this.#resolveRoutes([peer])).get(peer) ?? [];
    routes.push(...resolved);
    if (resolved.length === 0) routes.push(...this.#circuitTo(peer));
    return await this.#dial(routes);
  }

  #unusable(peer: PeerId): boolean {
    return this.#deps.isUnusable?.(peer) ?? false;
  }

  /** Throws `aborted` once the caller's signal has fired. */
  abortIfRequested(): void {
    if (this.#signal?.aborted !== true) return;
    throw new ExitConnectError(
      "aborted",
      `Choosing an exit for port ${this.#port} was cancelled.`,
      { port: this.#port, cause: this.#signal.reason },
    );
  }

  async #dialPinnedInRankOrder(
    resolved: ReadonlyMap<PeerId, readonly Multiaddr[]>,
  ): Promise<ConnectedDestination | undefined> {
    const pinned = this.#server.pinned;
    for (const [rank, entry] of pinned.entries()) {
      if (this.#unusable(entry.peerId)) continue;
      const routes = pinnedCandidateRoutes(entry, resolved);
      if (routes.length === 0) continue;
      const peer = await this.#dial(routes);
      if (peer === undefined) continue;
      return this.#preferConnectedLowerRank(rank, peer);
    }
    return undefined;
  }

  /** A more preferred pinned peer may have connected meanwhile (late dial, inbound): take it. */
  #preferConnectedLowerRank(rank: number, peer: PeerId): ConnectedDestination {
    const pinned = this.#server.pinned;
    for (let better = 0; better < rank; better++) {
      const entry = pinned[better];
      if (entry === undefined || this.#unusable(entry.peerId)) continue;
      if (this.#deps.dialer.isConnected(entry.peerId)) {
        return { peerId: entry.peerId, source: { kind: "pinned", rank: better } };
      }
    }
    return { peerId: peer, source: { kind: "pinned", rank } };
  }

  /** `with-backoff`: fight for the lost exit so a short blip does not change the egress IP. */
  async #keepLostExit(peer: PeerId): Promise<PeerId | undefined> {
    if (this.#server.stickyReconnect !== "with-backoff" || this.#unusable(peer)) return undefined;
    const backoff = new Backoff(
      STICKY_RECONNECT_INITIAL_MS,
      STICKY_RECONNECT_FACTOR,
      STICKY_RECONNECT_MAX_MS,
    );
    for (let attempt = 1; attempt <= STICKY_RECONNECT_ATTEMPTS; attempt++) {
      if (attempt > 1) await this.#sleep(backoff.next());
      const reached = await this.tryReachPeer(peer);
      if (reached !== undefined) return reached;
    }
    return undefined;
  }

  /** Most recently used first; members that cannot be reached are forgotten. */
  async #walkStickyPool(
    fingerprint: string,
    skip: PeerId | undefined,
  ): Promise<PeerId | undefined> {
    if (!this.#server.sticky) return undefined;
    for (const peer of this.#deps.sticky.pool(this.#port, fingerprint)) {
      if (peer === skip || this.#unusable(peer)) continue;
      const reached = await this.tryReachPeer(peer);
      if (reached !== undefined) return reached;
      this.#deps.sticky.forgetPeer(this.#port, peer);
    }
    return undefined;
  }

  async #discover(fingerprint: string, avoid: PeerId | undefined): Promise<ConnectedDestination> {
    let exclude: PeerId[] = avoid === undefined ? [] : [avoid];
    for (let attempt = 1; attempt <= this.#discoveryAttempts; attempt++) {
      if (attempt > 1) await this.#sleep(DISCOVERY_RETRY_INTERVAL_MS);
      const candidates = await this.#findCandidates(exclude, attempt);
      if (candidates === undefined) continue;
      this.#emitServerPool(candidates);
      if (candidates.length === 0) {
        // The lost exit may be the only one there is: after an empty answer it
        // becomes a last resort rather than leaving the port dark.
        exclude = [];
        continue;
      }
      const peer = await this.#dialSpread(candidates);
      if (peer !== undefined) return this.#adopted(fingerprint, peer, { kind: "discovered" });
    }
    throw this.#giveUp(
      "discovery-exhausted",
      `No exit matching the filters of port ${this.#port} (${
        describeFilters(this.#server.filters)
      }) ` +
        `could be reached after ${this.#discoveryAttempts} attempts. Check that the hub is ` +
        `reachable and has exits registered, or relax the filters.`,
    );
  }

  /**
   * Dials the candidates: with a spread key, first the one the key hashes to (so different
   * sessions land on different exits), then the rest; without, all at once.
   */
  async #dialSpread(candidates: readonly PeerRecord[]): Promise<PeerId | undefined> {
    const key = this.#server.spreadKey;
    if (key !== undefined && candidates.length > 1) {
      const sorted = [...candidates].sort((a, b) => a.peerId < b.peerId ? -1 : 1);
      const first = sorted[spreadIndex(key, sorted.length)]!;
      const peer = await this.#dial(discoveryRoutes([first], this.#deps.relayAddress));
      if (peer !== undefined) return peer;
      candidates = sorted.filter((candidate) => candidate !== first);
    }
    return await this.#dial(discoveryRoutes(candidates, this.#deps.relayAddress));
  }

  /** The hub's candidates without the excluded peers; undefined when the hub failed. */
  async #findCandidates(
    exclude: readonly PeerId[],
    attempt: number,
  ): Promise<PeerRecord[] | undefined> {
    try {
      const records = await this.#deps.directory.findNodes(
        { filters: this.#server.filters, limit: FIND_NODES_LIMIT, exclude },
        this.#signal,
      );
      return records.filter((record) =>
        !exclude.includes(record.peerId) && !this.#unusable(record.peerId)
      );
    } catch (error) {
      // A failed query is retried on the next attempt; only an abort ends the run.
      this.abortIfRequested();
      // Said on every attempt (the log sink counts repeats); the last one is followed by the give-up.
      const next = attempt < this.#discoveryAttempts
        ? ` Asking again in ${DISCOVERY_RETRY_INTERVAL_MS / 1000} s.`
        : "";
      this.#deps.events.emit({
        type: "error",
        port: this.#port,
        message: `The hub did not answer the search for exits: ${
          describeError(error).replace(/\.$/, "")
        }.${next}`,
      });
      return undefined;
    }
  }

  /**
   * Current routes of `peers`. A hub that cannot resolve gets relay circuits
   * synthesised instead; any other failure yields no routes this pass.
   */
  async #resolveRoutes(peers: readonly PeerId[]): Promise<Map<PeerId, Multiaddr[]>> {
    try {
      return await this.#deps.directory.resolvePeers(peers, this.#signal);
    } catch (error) {
      this.abortIfRequested();
      if (!(error instanceof DirectoryError) || error.code !== "unsupported") return new Map();
      const circuits = new Map<PeerId, Multiaddr[]>();
      for (const peer of peers) {
        const circuit = this.#circuitTo(peer);
        if (circuit.length > 0) circuits.set(peer, circuit);
      }
      return circuits;
    }
  }

  #circuitTo(peer: PeerId): Multiaddr[] {
    const relay = this.#deps.relayAddress;
    const circuit = relay === undefined ? undefined : synthesizeCircuit(relay, peer);
    return circuit === undefined ? [] : [circuit];
  }

  /** Direct routes in one race; relay circuits only when no direct route connects. */
  async #dial(routes: readonly Multiaddr[]): Promise<PeerId | undefined> {
    const { direct, relayed } = partitionDirectFirst(routes);
    for (const group of [direct, relayed]) {
      if (group.length === 0) continue;
      const peer = await this.#dialGroup(group);
      if (peer !== undefined) return peer;
    }
    return undefined;
  }

  async #dialGroup(addresses: readonly Multiaddr[]): Promise<PeerId | undefined> {
    try {
      return await this.#deps.dialer.dialAny(addresses, this.#signal);
    } catch (error) {
      this.abortIfRequested();
      if (error instanceof DialError && error.code === "shutdown") {
        throw new ExitConnectError(
          "aborted",
          `Choosing an exit for port ${this.#port} stopped: the node is shutting down.`,
          { port: this.#port, cause: error },
        );
      }
      return undefined;
    }
  }

  async #sleep(ms: number): Promise<void> {
    try {
      await this.#deps.clock.sleep(ms, this.#signal);
    } catch (error) {
      this.abortIfRequested();
      throw error;
    }
  }

  #adopted(fingerprint: string, peer: PeerId, source: DestinationSource): ConnectedDestination {
    rememberExit(this.#deps, this.#server, fingerprint, peer);
    return { peerId: peer, source };
  }

  #giveUp(code: "pinned-exhausted" | "discovery-exhausted", message: string): ExitConnectError {
    this.#deps.events.emit({ type: "error", port: this.#port, message });
    return new ExitConnectError(code, message, { port: this.#port });
  }

  #emitPinnedStatuses(resolved: ReadonlyMap<PeerId, readonly Multiaddr[]>): void {
    const statuses: PinnedPeerStatus[] = this.#server.pinned.map((entry, rank) => ({
      peerId: entry.peerId,
      rank,
      resolvable: pinnedCandidateRoutes(entry, resolved).length > 0,
    }));
    this.#deps.events.emit({ type: "pinned-statuses", port: this.#port, statuses });
  }

  #emitServerPool(candidates: readonly PeerRecord[]): void {
    const peers: PoolPeer[] = candidates.map((record) => ({
      peerId: record.peerId,
      addresses: [...record.routes],
    }));
    this.#deps.events.emit({ type: "server-pool", port: this.#port, peers });
  }
}

function fingerprintOf(deps: ExitConnectorDeps, server: ExitSelectionSettings): string {
  return deps.fingerprint?.(server) ?? serverFingerprint(server.port, server.filters);
}

function rememberExit(
  deps: ExitConnectorDeps,
  server: ExitSelectionSettings,
  fingerprint: string,
  peer: PeerId,
): void {
  if (!server.sticky) return;
  deps.sticky.remember(server.port, fingerprint, peer, server.poolMaxTotal, deps.clock.now());
}

/**
 * The routes of one pinned peer: what the hub resolved for it, plus the
 * verbatim multiaddr from the config (which keeps a peer the hub does not
 * know dialable). Deduplicated, hub routes first.
 */
export function pinnedCandidateRoutes(
  entry: PinnedPeer,
  resolved: ReadonlyMap<PeerId, readonly Multiaddr[]>,
): Multiaddr[] {
  const routes = [...(resolved.get(entry.peerId) ?? [])];
  if (entry.address !== undefined) routes.push(entry.address);
  return [...new Set(routes)];
}

/**
 * Which of `count` candidates (sorted by peer id) a spread key picks first: FNV-1a of the key,
 * so one key always picks the same place and different keys spread evenly.
 *
 * @example
 * ```ts
 * spreadIndex("alice/s1", 3) === spreadIndex("alice/s1", 3); // true
 * ```
 */
export function spreadIndex(key: string, count: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return count <= 0 ? 0 : hash % count;
}

/**
 * Every route of every discovery candidate, deduplicated; a candidate the hub
 * gave no route for gets a circuit through `relayAddress`.
 */
export function discoveryRoutes(
  candidates: readonly PeerRecord[],
  relayAddress: Multiaddr | undefined,
): Multiaddr[] {
  const routes = candidates.flatMap((candidate) => {
    if (candidate.routes.length > 0) return [...candidate.routes];
    const circuit = relayAddress === undefined
      ? undefined
      : synthesizeCircuit(relayAddress, candidate.peerId);
    return circuit === undefined ? [] : [circuit];
  });
  return [...new Set(routes)];
}

/** What `shouldPreferDirect` looks at when a connection to `candidate` comes up. */
export interface DirectSwitchInput {
  /** The server's active exit, if any. */
  readonly active: PeerId | undefined;
  /** How the active exit was chosen. */
  readonly activeSource: DestinationSource | undefined;
  /** The best open connection to the active exit (`Dialer.connectedRoute`), if any. */
  readonly activeRoute: Route | undefined;
  /** The peer a connection just opened to. */
  readonly candidate: PeerId;
  /** The route of that new connection. */
  readonly candidateRoute: Route;
  /** The server's sticky pool (`StickyState.pool`). */
  readonly pool: readonly PeerId[];
}

/**
 * Prefer direct (docs/proxy-behaviour.md#prefer-direct-routes): true when a pool member just
 * connected directly while the active exit is reached only through a relay, so the server should
 * switch to it (`ExitConnector.adopt(server, candidate, { kind: "sticky" })`). A relay is a last
 * resort, never the steady state. A pinned or manually chosen exit is never switched away from: the
 * user asked for that egress IP.
 */
export function shouldPreferDirect(input: DirectSwitchInput): boolean {
  if (input.active === undefined || input.active === input.candidate) return false;
  if (input.candidateRoute.relayed) return false;
  if (input.activeRoute !== undefined && !input.activeRoute.relayed) return false;
  const kind = input.activeSource?.kind;
  if (kind === "pinned" || kind === "manual") return false;
  return input.pool.includes(input.candidate);
}

/** Options of `retryForever`. */
export interface RetryOptions {
  /** Sleeps between tries. */
  readonly clock: Clock;
  /** Stops the retries: rejects with `ExitConnectError` `aborted`. */
  readonly signal?: AbortSignal;
  /** Delay schedule; default 1 s ×2 up to 30 s. */
  readonly backoff?: Backoff;
  /** Told of each failure and the pause before the next try (for logs and events). */
  readonly onFailure?: (error: unknown, delayMs: number, attempt: number) => void;
}

/**
 * Keeps calling `connectOnce` until it succeeds, pausing with backoff between
 * tries, so a port never stays dark for good. The first try runs at once;
 * `attempt` counts from 0 (pass `avoid` only on attempt 0). Any failure but an
 * abort is retried.
 *
 * @example
 * ```ts
 * const exit = await retryForever(
 *   (attempt) => connector.connect(server, { avoid: attempt === 0 ? lost : undefined, signal }),
 *   { clock, signal, onFailure: (error, delayMs) => log.warn(...) },
 * );
 * ```
 *
 * @throws {ExitConnectError} `aborted` when `signal` aborts.
 */
export async function retryForever<T>(
  connectOnce: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const { clock, signal, onFailure } = options;
  const backoff = options.backoff ??
    new Backoff(BACKGROUND_RETRY_INITIAL_MS, BACKGROUND_RETRY_FACTOR, BACKGROUND_RETRY_MAX_MS);
  for (let attempt = 0;; attempt++) {
    throwIfRetryAborted(signal);
    try {
      return await connectOnce(attempt);
    } catch (error) {
      if (error instanceof ExitConnectError && error.code === "aborted") throw error;
      throwIfRetryAborted(signal);
      const delayMs = backoff.next();
      onFailure?.(error, delayMs, attempt);
      try {
        await clock.sleep(delayMs, signal);
      } catch (sleepError) {
        throwIfRetryAborted(signal);
        throw sleepError;
      }
    }
  }
}

function throwIfRetryAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted !== true) return;
  throw new ExitConnectError("aborted", "Retrying to choose an exit was cancelled.", {
    cause: signal.reason,
  });
}
