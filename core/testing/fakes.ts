/**
 * In-memory fakes of the ports, for domain tests: a clock that records sleeps,
 * never waits, and runs timers as its time passes them; a scripted directory
 * and dialer, a recording event sink and a memory sticky store. Every fake answers on a microtask, so a whole connect
 * run finishes in one test tick.
 *
 * @module
 */
import {
  asPeerId,
  isRelayedAddress,
  type Multiaddr,
  type PeerId,
  peerIdOfAddress,
  type Route,
} from "../ids.ts";
import type { ExitAttributes } from "../domain/attributes.ts";
import { createFilterMatcher, type FilterMatcher } from "../domain/filters.ts";
import { describeError } from "../errors.ts";
import type { P2ProxyEvent, P2ProxyEventType } from "../events.ts";
import type { Clock, ClockTimer } from "../ports/clock.ts";
import { type Dialer, DialError } from "../ports/dialer.ts";
import type { EventSink } from "../ports/event_sink.ts";
import {
  DirectoryError,
  type FindNodesQuery,
  type PeerDirectory,
  type PeerRecord,
} from "../ports/peer_directory.ts";
import { emptyStickyRecord, type StickyRecord, type StickyStore } from "../ports/sticky_store.ts";

/** An arbitrary fixed start (2023-11-14T22:13:20Z), so timestamps are predictable. */
export const FAKE_CLOCK_START_MS = 1_700_000_000_000;

/** A timer of the {@link FakeClock}: when it is due, and its place among timers due together. */
interface FakeTimer {
  readonly dueMs: number;
  readonly order: number;
  readonly callback: () => void;
}

/**
 * A clock whose time moves only when something sleeps or a test calls
 * `advance`. Every sleep is recorded in `sleeps` and resolves on a microtask;
 * an aborted signal rejects it with the signal's reason, like the real clock.
 * Timers (`setTimer`) run when fake time reaches their deadline, in deadline
 * order, with `now()` reading that deadline while each runs.
 */
export class FakeClock implements Clock {
  /** Every requested sleep, in order, in milliseconds. */
  readonly sleeps: number[] = [];
  /** Called with each sleep's duration before it settles (e.g. to abort from a test). */
  onSleep: ((ms: number) => void) | undefined;
  #nowMs: number;
  readonly #timers: FakeTimer[] = [];
  #timersSet = 0;

  /** Starts the fake time at `startMs`. */
  constructor(startMs: number = FAKE_CLOCK_START_MS) {
    this.#nowMs = startMs;
  }

  /** The fake time in milliseconds since the Unix epoch. */
  now(): number {
    return this.#nowMs;
  }

  /** Moves time forward without recording a sleep, running the timers that come due on the way. */
  advance(ms: number): void {
    this.#moveTo(this.#nowMs + ms);
  }

  /** Total time slept, in milliseconds. */
  get sleptMs(): number {
    return this.sleeps.reduce((total, ms) => total + ms, 0);
  }

  /** What is left of each pending timer, in milliseconds, soonest first. */
  get pendingTimers(): number[] {
    return this.#timers.map((timer) => timer.dueMs - this.#nowMs).sort((a, b) => a - b);
  }

  /** Records `ms`, advances the time (running the timers due) and resolves on a microtask. */
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    this.sleeps.push(ms);
    this.#moveTo(this.#nowMs + Math.max(0, ms));
    this.onSleep?.(ms);
    await Promise.resolve();
    signal?.throwIfAborted();
  }

  /**
   * Runs `callback` once fake time has moved `ms` past now. A delay below
   * 1 ms counts as 1 ms (as Node's `setTimeout` does), so a timer that sets
   * itself again always lets time move on.
   */
  setTimer(ms: number, callback: () => void): ClockTimer {
    const timer = { dueMs: this.#nowMs + Math.max(1, ms), order: this.#timersSet++, callback };
    this.#timers.push(timer);
    return {
      cancel: () => {
        const index = this.#timers.indexOf(timer);
        if (index >= 0) this.#timers.splice(index, 1);
      },
    };
  }

  /** Runs every timer due by `targetMs` in deadline order (ties: first set, first run). */
  #moveTo(targetMs: number): void {
    for (;;) {
      const next = this.#timers
        .filter((timer) => timer.dueMs <= targetMs)
        .sort((a, b) => a.dueMs - b.dueMs || a.order - b.order)[0];
      if (next === undefined) break;
      this.#timers.splice(this.#timers.indexOf(next), 1);
      this.#nowMs = Math.max(this.#nowMs, next.dueMs);
      next.callback();
    }
    this.#nowMs = targetMs;
  }
}

/** A scripted answer of the fake directory: a value, an error to throw, or a function computing either. */
export type FakeAnswer<Q, T> = T | Error | ((query: Q) => T | Promise<T>);

/**
 * A scripted hub directory. `findNodes` answers from its queue, then like a
 * hub from the exits registered with `setExits` (those matching the query's
 * filters, in registration order; none when there are none). `resolvePeers`
 * answers from its queue, then from the standing routes (`setRoutes`,
 * `setExits`) — or with `unsupported` after `resolveUnsupported()`; either
 * way only the asked ids come back. `describePeers` answers the standing
 * routes and the attributes set with `setAttributes` or `setExits` (or the
 * same failure). Every call is recorded.
 */
export class FakeDirectory implements PeerDirectory {
  /** Every `findNodes` query, in order. */
  readonly findCalls: FindNodesQuery[] = [];
  /** The ids of every `resolvePeers` call, in order. */
  readonly resolveCalls: PeerId[][] = [];
  /** The ids of every `describePeers` call, in order. */
  readonly describeCalls: PeerId[][] = [];
  /** Whether `findNodes` leaves out the excluded peers, as the hub does; false models an older hub. */
  honoursExclude = true;
  readonly #findQueue: FakeAnswer<FindNodesQuery, PeerRecord[]>[] = [];
  readonly #resolveQueue: FakeAnswer<readonly PeerId[], Map<PeerId, Multiaddr[]>>[] = [];
  #routes = new Map<PeerId, Multiaddr[]>();
  readonly #attributes = new Map<PeerId, ExitAttributes>();
  #resolveFallback: Error | undefined;
  #exits: RegisteredExit[] = [];

  /** Queues answers for the next `findNodes` calls. */
  queueFind(...answers: FakeAnswer<FindNodesQuery, PeerRecord[]>[]): this {
    this.#findQueue.push(...answers);
    return this;
  }

  /** Queues answers for the next `resolvePeers` calls. */
  queueResolve(...answers: FakeAnswer<readonly PeerId[], Map<PeerId, Multiaddr[]>>[]): this {
    this.#resolveQueue.push(...answers);
    return this;
  }

  /** The routes `resolvePeers` reports once its queue is empty. */
  setRoutes(
    routes: Map<PeerId, readonly Multiaddr[]> | Record<string, readonly Multiaddr[]>,
  ): this {
    const entries = routes instanceof Map ? [...routes] : Object.entries(routes);
    this.#routes = new Map(entries.map(([peer, addresses]) => [asPeerId(peer), [...addresses]]));
    this.#resolveFallback = undefined;
    return this;
  }

  /** What `describePeers` reports as `peer`'s attributes (the hub's registration). */
  setAttributes(peer: PeerId, attributes: ExitAttributes): this {
    this.#attributes.set(peer, attributes);
    return this;
  }

  /**
   * Registers exits as a hub would: `findNodes` answers them (filtered with the
   * hub's matcher) once its queue is empty, and their routes and attributes
   * join the standing ones `resolvePeers` and `describePeers` answer.
   */
  setExits(exits: readonly RegisteredExit[]): this {
    this.#exits = exits.map((exit) => ({ ...exit, routes: [...exit.routes] }));
    for (const exit of exits) {
      this.#routes.set(exit.peerId, [...exit.routes]);
      this.#attributes.set(exit.peerId, exit.attributes);
    }
    return this;
  }

  /** Makes `resolvePeers` fail with `unsupported` once its queue is empty (an older hub). */
  resolveUnsupported(): this {
    this.#resolveFallback = new DirectoryError(
      "unsupported",
      "The fake hub does not resolve peers.",
    );
    return this;
  }

  /** Makes `resolvePeers` fail with `error` once its queue is empty. */
  resolveFailing(error: Error): this {
    this.#resolveFallback = error;
    return this;
  }

  /**
   * Records the query and answers from the queue, then the matching registered
   * exits, honouring limit and exclude.
   */
  async findNodes(query: FindNodesQuery, signal?: AbortSignal): Promise<PeerRecord[]> {
    signal?.throwIfAborted();
    this.findCalls.push({ ...query, exclude: [...query.exclude] });
    const answer = this.#findQueue.shift() ?? this.#matchingExits(query);
    const records = await settle(answer, query);
    const kept = this.honoursExclude
      ? records.filter((record) => !query.exclude.includes(record.peerId))
      : records;
    return kept.slice(0, query.limit);
  }

  #matchingExits(query: FindNodesQuery): PeerRecord[] {
    if (this.#exits.length === 0) return [];
    let matches: FilterMatcher;
    try {
      matches = createFilterMatcher(query.filters);
    } catch (error) {
      // What a hub answers to filters it cannot use (INVALID_ARGUMENT).
      throw new DirectoryError("rejected", describeError(error), { cause: error });
    }
    return this.#exits
      .filter((exit) => matches(exit.attributes).matches)
      .map((exit) => ({ ...exit, routes: [...exit.routes] }));
  }

  /** Records the ids and answers from the queue, then the standing routes or failure. */
  async resolvePeers(
    ids: readonly PeerId[],
    signal?: AbortSignal,
  ): Promise<Map<PeerId, Multiaddr[]>> {
    signal?.throwIfAborted();
    this.resolveCalls.push([...ids]);
    const queued = this.#resolveQueue.shift();
    if (queued === undefined && this.#resolveFallback !== undefined) throw this.#resolveFallback;
    const routes = await settle(queued ?? this.#routes, ids);
    const answer = new Map<PeerId, Multiaddr[]>();
    for (const id of ids) {
      const found = routes.get(id);
      if (found !== undefined) answer.set(id, [...found]);
    }
    return answer;
  }

  /** Records the ids; a peer with standing routes or attributes comes back with both. */
  async describePeers(
    ids: readonly PeerId[],
    signal?: AbortSignal,
  ): Promise<Map<PeerId, PeerRecord>> {
    signal?.throwIfAborted();
    this.describeCalls.push([...ids]);
    await Promise.resolve();
    if (this.#resolveFallback !== undefined) throw this.#resolveFallback;
    const answer = new Map<PeerId, PeerRecord>();
    for (const id of ids) {
      const routes = this.#routes.get(id);
      const attributes = this.#attributes.get(id);
      if (routes === undefined && attributes === undefined) continue;
      answer.set(id, {
        peerId: id,
        routes: [...routes ?? []],
        ...(attributes ? { attributes } : {}),
      });
    }
    return answer;
  }
}

/** An exit as `FakeDirectory.setExits` registers it: a record with the attributes it registered. */
export type RegisteredExit = PeerRecord & { readonly attributes: ExitAttributes };

async function settle<Q, T>(answer: FakeAnswer<Q, T>, query: Q): Promise<T> {
  await Promise.resolve();
  if (answer instanceof Error) throw answer;
  if (typeof answer === "function") return await (answer as (query: Q) => T | Promise<T>)(query);
  return answer;
}

/**
 * A dialer with scripted reachability. An address connects when it is listed
 * in `reachableAddresses`, or when its target peer (`/p2p/<id>` suffix) is in
 * `reachablePeers` and the address is not in `deadAddresses`. `dialAny`
 * connects the first address of its list that connects, records the
 * connection, and rejects with `none-connected` when none does. Every call's
 * address list is recorded in `dials`.
 */
export class FakeDialer implements Dialer {
  /** The address list of every `dialAny` call, in order. */
  readonly dials: Multiaddr[][] = [];
  /** Peers any of whose addresses connect. */
  readonly reachablePeers: Set<PeerId> = new Set();
  /** Exact addresses that connect. */
  readonly reachableAddresses: Set<Multiaddr> = new Set();
  /** Addresses that never connect, even when their peer is reachable. */
  readonly deadAddresses: Set<Multiaddr> = new Set();
  /** When set, every dial rejects with `shutdown`. */
  shuttingDown = false;
  /** Replaces the scripted behaviour of `dialAny` (after recording the call). */
  onDial: ((addresses: readonly Multiaddr[], signal?: AbortSignal) => Promise<PeerId>) | undefined;
  readonly #connections = new Map<PeerId, Route[]>();

  /** Starts with the given reachable peers and addresses. */
  constructor(reachable: { peers?: Iterable<PeerId>; addresses?: Iterable<Multiaddr> } = {}) {
    for (const peer of reachable.peers ?? []) this.reachablePeers.add(peer);
    for (const address of reachable.addresses ?? []) this.reachableAddresses.add(address);
  }

  /** A dialer that reaches `peers` on any of their addresses. */
  static reaching(...peers: PeerId[]): FakeDialer {
    return new FakeDialer({ peers });
  }

  /** A dialer that reaches exactly `addresses`. */
  static reachingAddresses(...addresses: Multiaddr[]): FakeDialer {
    return new FakeDialer({ addresses });
  }

  /** How many `dialAny` calls were made. */
  get dialCount(): number {
    return this.dials.length;
  }

  /** Every address dialled, across calls, in order. */
  get dialedAddresses(): Multiaddr[] {
    return this.dials.flat();
  }

  /** Records an open connection to `peer` over `address` (as the network would after an inbound dial). */
  connect(peer: PeerId, address: Multiaddr): void {
    const routes = this.#connections.get(peer) ?? [];
    routes.push({ address, relayed: isRelayedAddress(address) });
    this.#connections.set(peer, routes);
  }

  /** Closes every connection to `peer`. */
  disconnect(peer: PeerId): void {
    this.#connections.delete(peer);
  }

  /** Records the list, then connects the first reachable address (see the class doc). */
  async dialAny(addresses: readonly Multiaddr[], signal?: AbortSignal): Promise<PeerId> {
    signal?.throwIfAborted();
    this.dials.push([...addresses]);
    if (this.onDial !== undefined) return await this.onDial(addresses, signal);
    await Promise.resolve();
    signal?.throwIfAborted();
    if (this.shuttingDown) throw new DialError("shutdown", "The fake node is shutting down.");
    const winner = addresses.find((address) => this.#connects(address));
    const peer = winner === undefined ? undefined : peerIdOfAddress(winner);
    if (winner === undefined || peer === undefined) {
      throw new DialError("none-connected", `None of ${addresses.length} addresses connected.`);
    }
    this.connect(peer, winner);
    return peer;
  }

  /** True while a connection to `peer` is recorded. */
  isConnected(peer: PeerId): boolean {
    return (this.#connections.get(peer)?.length ?? 0) > 0;
  }

  /** The direct connection to `peer` if any, else its first relayed one. */
  connectedRoute(peer: PeerId): Route | undefined {
    const routes = this.#connections.get(peer) ?? [];
    return routes.find((route) => !route.relayed) ?? routes[0];
  }

  #connects(address: Multiaddr): boolean {
    if (this.reachableAddresses.has(address)) return true;
    if (this.deadAddresses.has(address)) return false;
    const peer = peerIdOfAddress(address);
    return peer !== undefined && this.reachablePeers.has(peer);
  }
}

/** The event of type `T`. */
export type EventOfType<T extends P2ProxyEventType> = Extract<P2ProxyEvent, { type: T }>;

/** An event sink that keeps every event for assertions. */
export class RecordingSink implements EventSink {
  /** Every event, in order. */
  readonly events: P2ProxyEvent[] = [];

  /** Keeps `event`. */
  emit(event: P2ProxyEvent): void {
    this.events.push(event);
  }

  /** The events of one type, in order. */
  ofType<T extends P2ProxyEventType>(type: T): EventOfType<T>[] {
    return this.events.filter((event): event is EventOfType<T> => event.type === type);
  }

  /** The messages of every `error` event. */
  errors(): string[] {
    return this.ofType("error").map((event) => event.message);
  }

  /** Forgets what was recorded so far. */
  clear(): void {
    this.events.length = 0;
  }
}

/** A StickyStore in memory. Records are deep-copied both ways, like a real store's serialisation. */
export class MemoryStickyStore implements StickyStore {
  /** How many times `save` was called. */
  saves = 0;
  #record: StickyRecord;

  /** Starts holding a copy of `initial`. */
  constructor(initial: StickyRecord = emptyStickyRecord()) {
    this.#record = structuredClone(initial);
  }

  /** A copy of what was saved last. */
  get record(): StickyRecord {
    return structuredClone(this.#record);
  }

  /** A copy of the record held. */
  load(): Promise<StickyRecord> {
    return Promise.resolve(structuredClone(this.#record));
  }

  /** Holds a copy of `record`. */
  save(record: StickyRecord): Promise<void> {
    this.saves++;
    this.#record = structuredClone(record);
    return Promise.resolve();
  }
}
