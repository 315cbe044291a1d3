import { deepEqual, equal, ok } from "node:assert/strict";
import { type ExitAttributes, NO_FILTERS } from "../core/domain/attributes.ts";
import { ExitConnector } from "../core/domain/connect.ts";
import { serverFingerprint } from "../core/domain/fingerprint.ts";
import type { ExitSelectionSettings } from "../core/domain/server.ts";
import { StickyState } from "../core/domain/sticky_state.ts";
import { JIT_WAIT_MS } from "../core/domain/constants.ts";
import type { DestinationSource, P2ProxyEvent } from "../core/events.ts";
import { type Multiaddr, type PeerId, peerIdOfAddress } from "../core/ids.ts";
import type { FindNodesQuery, PeerRecord } from "../core/ports/peer_directory.ts";
import type { StickyRecord } from "../core/ports/sticky_store.ts";
import {
  aCircuitAddress,
  aDirectAddress,
  aPeerId,
  aPeerRecord,
  aServer,
  pinnedTo,
  someAttributes,
} from "../core/testing/builders.ts";
import {
  FakeClock,
  FakeDirectory,
  MemoryStickyStore,
  RecordingSink,
} from "../core/testing/fakes.ts";
import { FakeNetwork } from "./_fake_network.ts";
import {
  type ActiveExit,
  DiscoveryActor,
  type DiscoveryActorDeps,
  type ManualSelectionOutcome,
  PING_INTERVAL_MS,
  PING_TIMEOUT_MS,
  PINNED_RECLAIM_INTERVAL_MS,
  UnusableExits,
} from "./discovery_actor.ts";

const [A, B, C, D] = [aPeerId(1), aPeerId(2), aPeerId(3), aPeerId(4)] as [
  PeerId,
  PeerId,
  PeerId,
  PeerId,
];

/** The documented cooldown (the actor's default), spelled out so the arithmetic below reads. */
const COOLDOWN_MS = 30_000;

/** The sanitizers stay on: a leaked interval or timer fails the test. */
function test(name: string, fn: (t: Deno.TestContext) => Promise<void>): void {
  Deno.test({ name, sanitizeOps: true, sanitizeResources: true, fn });
}

// ---------------------------------------------------------------------------
// Fakes that only these tests need

/**
 * A FakeClock whose sleeps wait until the test moves time past their end (the
 * FakeClock's return at once): each sleep is a clock timer, so `pending` lists
 * every wait on the clock — the connector's pauses and the actor's own timers
 * — and nothing moves until the test calls `advance`.
 */
class ManualClock extends FakeClock {
  /** What is left of each pending timer or sleep, in ms, soonest first. */
  get pending(): number[] {
    return this.pendingTimers;
  }

  override sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.sleeps.push(ms);
    this.onSleep?.(ms);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        timer.cancel();
        reject(signal?.reason);
      };
      const timer = this.setTimer(ms, () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}

/**
 * A FakeNetwork that can leave pings to some peers unanswered (until their
 * signal aborts) and hold the dials to one peer.
 */
class Network extends FakeNetwork {
  /** Peers whose pings never answer. */
  readonly unanswered = new Set<PeerId>();
  #held: { peer: PeerId; until: Promise<void> } | undefined;

  /** Makes dials that include an address of `peer` wait until the returned function is called. */
  holdDialsTo(peer: PeerId): () => void {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#held = { peer, until: promise };
    return () => {
      this.#held = undefined;
      resolve();
    };
  }

  override async dialAny(addresses: readonly Multiaddr[], signal?: AbortSignal): Promise<PeerId> {
    const held = this.#held;
    if (held && addresses.some((address) => peerIdOfAddress(address) === held.peer)) {
      await held.until;
    }
    return await super.dialAny(addresses, signal);
  }

  override ping(peer: PeerId, signal?: AbortSignal): Promise<number> {
    if (!this.unanswered.has(peer)) return super.ping(peer, signal);
    this.pings.push(peer);
    return new Promise((_, reject) => {
      signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
  }
}

/** A RecordingSink that also tells the test of each event as it is emitted. */
class Events extends RecordingSink {
  onEmit: ((event: P2ProxyEvent) => void) | undefined;

  override emit(event: P2ProxyEvent): void {
    super.emit(event);
    this.onEmit?.(event);
  }
}

/** A FakeDirectory whose `findNodes` always answers the current `candidates` (the hub's view). */
class Hub extends FakeDirectory {
  candidates: PeerRecord[] = [];

  override async findNodes(query: FindNodesQuery, signal?: AbortSignal): Promise<PeerRecord[]> {
    signal?.throwIfAborted();
    this.findCalls.push({ ...query, exclude: [...query.exclude] });
    await Promise.resolve();
    return this.candidates
      .filter((record) => !query.exclude.includes(record.peerId))
      .slice(0, query.limit);
  }
}

/** A MemoryStickyStore whose saves wait for `release()`. */
class GatedStore extends MemoryStickyStore {
  #open = Promise.withResolvers<void>();

  release(): void {
    this.#open.resolve();
  }

  override async save(record: StickyRecord): Promise<void> {
    await this.#open.promise;
    await super.save(record);
  }
}

// ---------------------------------------------------------------------------
// The world an actor runs in

interface WorldOptions {
  servers?: ExitSelectionSettings[];
  /** Sticky pools at start, per port, most recent first. */
  pools?: Record<number, PeerId[]>;
  timings?: DiscoveryActorDeps["timings"];
  store?: MemoryStickyStore;
}

class World {
  readonly clock = new ManualClock();
  readonly hub = new Hub();
  readonly network = new Network();
  readonly events = new Events();
  readonly sticky = new StickyState();
  readonly unusable = new UnusableExits(() => this.clock.now());
  readonly store: MemoryStickyStore;
  readonly servers: ExitSelectionSettings[];
  readonly actor: DiscoveryActor;
  readonly #routes = new Map<PeerId, Multiaddr[]>();
  /** Every test starts its actor (if at all) at this time, so pings are due at its multiples. */
  readonly #startedAt = this.clock.now();

  constructor(options: WorldOptions = {}) {
    this.servers = options.servers ?? [aServer()];
    this.store = options.store ?? new MemoryStickyStore();
    for (const [port, peers] of Object.entries(options.pools ?? {})) {
      const server = this.server(Number(port));
      for (const peer of [...peers].reverse()) {
        this.sticky.remember(server.port, fingerprintOf(server), peer, 30, this.clock.now());
      }
    }
    this.sticky.markClean();
    const connector = new ExitConnector({
      directory: this.hub,
      dialer: this.network,
      clock: this.clock,
      events: this.events,
      sticky: this.sticky,
      isUnusable: (peer) => this.unusable.has(peer),
    });
    this.actor = new DiscoveryActor({
      servers: this.servers,
      network: this.network,
      directory: this.hub,
      connector,
      sticky: this.sticky,
      unusable: this.unusable,
      store: this.store,
      clock: this.clock,
      events: this.events,
      ...(options.timings ? { timings: options.timings } : {}),
    });
  }

  server(port: number): ExitSelectionSettings {
    const server = this.servers.find((s) => s.port === port);
    if (server === undefined) throw new Error(`No server on port ${port} in this test.`);
    return server;
  }

  /**
   * An exit the hub knows (it resolves to `routes` and describes with
   * `attributes`) and, unless `listed` is false, offers to discovery. It is reachable unless `reachable` is false.
   */
  exit(
    peer: PeerId,
    options: {
      routes?: Multiaddr[];
      listed?: boolean;
      reachable?: boolean;
      attributes?: ExitAttributes;
    } = {},
  ): void {
    const routes = options.routes ?? [direct(peer)];
    const attributes = options.attributes ?? someAttributes();
    this.#routes.set(peer, routes);
    this.hub.setRoutes(this.#routes);
    this.hub.setAttributes(peer, attributes);
    if (options.listed !== false) {
      this.hub.candidates.push(aPeerRecord(peer, routes, attributes));
    }
    if (options.reachable !== false) this.network.reachablePeers.add(peer);
  }

  /** The peer goes away: its connections close and it can no longer be dialled. */
  lose(peer: PeerId): void {
    this.network.reachablePeers.delete(peer);
    while (this.network.close(peer));
  }

  pool(port: number): PeerId[] {
    const server = this.server(port);
    return this.sticky.pool(port, fingerprintOf(server));
  }

  /** The `active-destination` events of `port`, as [peer, source] pairs. */
  announced(port: number): [PeerId | undefined, DestinationSource | undefined][] {
    return this.events.ofType("active-destination")
      .filter((event) => event.port === port)
      .map((event) => [event.peerId, event.source]);
  }

  exclusions(): PeerId[][] {
    return this.hub.findCalls.map((query) => [...query.exclude]);
  }

  /**
   * The clock's pending waits besides the next liveness ping (always set
   * while the actor runs at the default interval), soonest first.
   */
  pendingBesidesPing(): number[] {
    const pending = this.clock.pending;
    const elapsed = this.clock.now() - this.#startedAt;
    const at = pending.indexOf(PING_INTERVAL_MS - elapsed % PING_INTERVAL_MS);
    ok(at >= 0, `no ping pending among ${JSON.stringify(pending)}`);
    pending.splice(at, 1);
    return pending;
  }
}

function fingerprintOf(server: ExitSelectionSettings): string {
  return serverFingerprint(server.port, server.filters);
}

/** A direct address per peer, each on its own host. */
function direct(peer: PeerId): Multiaddr {
  return aDirectAddress(peer, 10 + [A, B, C, D].indexOf(peer));
}

function exitOf(peerId: PeerId, kind: "sticky" | "discovered" | "manual"): ActiveExit {
  return { peerId, source: { kind } };
}

/**
 * Lets every pending microtask chain run: the fakes answer on microtasks, and
 * one turn of the event loop (a zero-delay macrotask) lets all of them finish.
 * No time passes on the actor's clock: only `advance` moves it.
 */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Tracks whether a promise has settled, without awaiting it. */
function track<T>(promise: Promise<T>): { settled: () => boolean; promise: Promise<T> } {
  let settled = false;
  const tracked = promise.finally(() => (settled = true));
  return { settled: () => settled, promise: tracked };
}

/** A manual selection as the admin API asks for it. */
function choose(
  world: World,
  port: number,
  peer: PeerId,
  override = false,
): Promise<ManualSelectionOutcome> {
  return world.actor.selectExit(port, peer, { by: "a test", override });
}

const failFast = (port = 1080) => aServer({ port, stickyReconnect: "fail-fast" });

// ---------------------------------------------------------------------------
// start

test("start: every server gets a connect, announces its exit and saves the pools", async () => {
  const world = new World({ servers: [aServer({ port: 1080 }), aServer({ port: 1081 })] });
  world.exit(A);
  world.exit(B);
  try {
    world.actor.start();
    await settle();

    deepEqual(world.actor.activeExit(1080), exitOf(A, "discovered"));
    deepEqual(world.actor.activeExit(1081), exitOf(A, "discovered"));
    // "No exit yet" first, then the exit.
    deepEqual(world.announced(1080), [[undefined, undefined], [A, { kind: "discovered" }]]);
    deepEqual(world.announced(1081), [[undefined, undefined], [A, { kind: "discovered" }]]);
    deepEqual(world.events.ofType("connection-connecting").map((e) => e.port), [1080, 1081]);
    equal(world.hub.findCalls.length, 2, "one discovery per server");

    // The adopted exits reached the store, under each server's fingerprint.
    ok(world.store.saves >= 1);
    const saved = world.store.record.servers;
    deepEqual(Object.keys(saved).sort(), ["1080", "1081"]);
    equal(saved["1080"]?.fingerprint, fingerprintOf(world.server(1080)));
    deepEqual(saved["1080"]?.peers.map((p) => p.peer_id), [A]);
    deepEqual(saved["1081"]?.peers.map((p) => p.peer_id), [A]);
    equal(world.sticky.dirty, false);

    // Nothing changed since: a relayed connection, an unknown unusable peer and stop() save nothing.
    const saves = world.store.saves;
    world.network.open(C, aCircuitAddress(C));
    world.actor.reportUnusable(D);
    await settle();
    await world.actor.stop();
    equal(world.store.saves, saves);
  } finally {
    await world.actor.stop();
  }
});

test("start: a remembered exit is reached before asking the hub", async () => {
  const world = new World({ pools: { 1080: [B] } });
  world.exit(A);
  world.exit(B);
  try {
    world.actor.start();
    await settle();
    deepEqual(world.actor.activeExit(1080), exitOf(B, "sticky"));
    equal(world.hub.findCalls.length, 0);
    deepEqual(world.network.dials, [[direct(B)]]);
  } finally {
    await world.actor.stop();
  }
});

// ---------------------------------------------------------------------------
// Just-in-time

test("JIT: 20 concurrent sessions on a port without an exit share one connect", async () => {
  const world = new World();
  world.exit(A);
  world.exit(B);
  const release = world.network.holdDials();
  try {
    const waiters = Array.from({ length: 20 }, () => track(world.actor.exitForSession(1080)));
    await settle();
    equal(world.hub.findCalls.length, 1, "one discovery for 20 waiters");
    equal(world.network.dials.length, 1, "one dial for 20 waiters");
    equal(world.events.ofType("connection-connecting").length, 1);
    equal(world.events.ofType("jit-discovery").length, 20, "one jit-discovery per waiter");
    ok(waiters.every((w) => !w.settled()), "nobody resolves before the dial lands");

    release();
    const peers = await Promise.all(waiters.map((w) => w.promise));
    deepEqual(peers, Array(20).fill(A));
    deepEqual(world.actor.activeExit(1080), exitOf(A, "discovered"));

    // With an exit in place the hot path answers at once: no JIT, no connect.
    equal(await world.actor.exitForSession(1080), A);
    equal(world.events.ofType("jit-discovery").length, 20);
    equal(world.network.dials.length, 1);
  } finally {
    release();
    await world.actor.stop();
  }
});

test("JIT: a waiter whose signal aborts gets undefined; the others still get the exit", async () => {
  const world = new World();
  world.exit(A);
  const release = world.network.holdDials();
  try {
    const first = track(world.actor.exitForSession(1080));
    const controller = new AbortController();
    const leaving = track(world.actor.exitForSession(1080, controller.signal));
    const last = track(world.actor.exitForSession(1080));
    await settle();

    controller.abort(new Error("The client went away."));
    await settle();
    ok(leaving.settled(), "the aborted waiter resolves without waiting for the dial");
    equal(await leaving.promise, undefined);
    ok(!first.settled() && !last.settled(), "the others keep waiting");

    release();
    equal(await first.promise, A);
    equal(await last.promise, A);
    equal(world.network.dials.length, 1);
    deepEqual(world.actor.activeExit(1080), exitOf(A, "discovered"));
  } finally {
    release();
    await world.actor.stop();
  }
});

test("JIT: a session waits at most jitWaitMs; the shared connect goes on", async () => {
  const world = new World({ timings: { jitWaitMs: 20 } });
  try {
    const waiting = track(world.actor.exitForSession(1080));
    await settle();
    // The hub has no exits: discovery pauses 1 s before asking again; the client waits 20 ms.
    equal(world.hub.findCalls.length, 1);
    deepEqual(world.clock.pending, [20, 1_000]);
    world.clock.advance(19);
    await settle();
    ok(!waiting.settled(), "not a millisecond early");

    world.clock.advance(1);
    equal(await waiting.promise, undefined);
    equal(world.hub.findCalls.length, 1);
    deepEqual(world.clock.pending, [980], "the shared connect goes on");
    equal(world.actor.activeExit(1080), undefined);

    world.exit(A);
    world.clock.advance(980);
    await settle();
    deepEqual(world.actor.activeExit(1080), exitOf(A, "discovered"));
    equal(await world.actor.exitForSession(1080), A);
  } finally {
    await world.actor.stop();
  }
});

// ---------------------------------------------------------------------------
// Loss and rediscovery

test("loss: closing one of several connections keeps the exit; the last one rediscovers at once", async () => {
  const world = new World({ servers: [failFast()] });
  world.exit(A);
  world.exit(B);
  try {
    world.actor.start();
    await settle();
    deepEqual(world.actor.activeExit(1080), exitOf(A, "discovered"));
    const second = aDirectAddress(A, 99);
    world.network.open(A, second);

    // Within the cooldown of the start-up connect: this is still the port's first loss.
    world.clock.advance(5_000);
    ok(world.network.close(A, direct(A)));
    await settle();
    deepEqual(world.actor.activeExit(1080), exitOf(A, "discovered"), "A still has a connection");
    equal(world.announced(1080).length, 2, "no new active-destination");
    equal(world.hub.findCalls.length, 1, "no rediscovery");

    world.lose(A);
    deepEqual(world.announced(1080).at(-1), [undefined, undefined], "announced without a peer");
    await settle();
    deepEqual(world.exclusions(), [[], [A]], "rediscovered at once, avoiding the lost exit");
    deepEqual(world.actor.activeExit(1080), exitOf(B, "discovered"));
    deepEqual(world.clock.sleeps, [], "nothing waited");
    deepEqual(world.pendingBesidesPing(), [], "…and nothing waits");
  } finally {
    await world.actor.stop();
  }
});

test("loss: a second loss within the cooldown waits for the rest of it", async () => {
  const world = new World({ servers: [failFast()] });
  world.exit(A);
  world.exit(B);
  world.exit(C);
  try {
    world.actor.start();
    await settle();
    world.clock.advance(5_000);
    world.lose(A);
    await settle();
    deepEqual(world.actor.activeExit(1080), exitOf(B, "discovered"));
    const finds = world.hub.findCalls.length;
    const dials = world.network.dials.length;

    world.clock.advance(10_000);
    world.lose(B);
    await settle();
    equal(world.actor.activeExit(1080), undefined);
    equal(world.hub.findCalls.length, finds, "throttled: no find");
    equal(world.network.dials.length, dials, "throttled: no dial");
    deepEqual(
      world.pendingBesidesPing(),
      [COOLDOWN_MS - 10_000],
      "waits for the rest of the cooldown",
    );

    world.clock.advance(COOLDOWN_MS - 10_000 - 1);
    await settle();
    equal(world.hub.findCalls.length, finds, "not a millisecond early");

    world.clock.advance(1);
    await settle();
    deepEqual(world.exclusions().at(-1), [B], "the delayed rediscovery avoids the lost exit");
    deepEqual(world.actor.activeExit(1080), exitOf(C, "discovered"));
  } finally {
    await world.actor.stop();
  }
});

/** Start on A, lose it at +5 s (rediscovered at once), then lose the replacement at +15 s (throttled). */
async function throttledAfterTwoLosses(world: World): Promise<PeerId> {
  world.actor.start();
  await settle();
  world.clock.advance(5_000);
  world.lose(A);
  world.network.reachablePeers.add(A); // A comes back: the hub still lists it
  await settle();
  const replacement = world.actor.activeExit(1080)?.peerId;
  ok(replacement !== undefined);
  world.clock.advance(10_000);
  while (world.network.close(replacement));
  await settle();
  equal(world.actor.activeExit(1080), undefined);
  deepEqual(world.pendingBesidesPing(), [COOLDOWN_MS - 10_000], "a rediscovery is pending");
  return replacement;
}

test("loss: with-backoff, a client during the cooldown connects at once and retries the lost exit", async () => {
  const world = new World({ servers: [aServer({ stickyReconnect: "with-backoff" })] });
  world.exit(A);
  world.exit(B);
  try {
    const lost = await throttledAfterTwoLosses(world);
    equal(lost, A, "with-backoff kept A through the first loss");
    const finds = world.hub.findCalls.length;
    const dials = world.network.dials.length;

    // The lost exit is reachable again (a blip): the client's connect wins it back.
    equal(await world.actor.exitForSession(1080), A);
    deepEqual(world.actor.activeExit(1080), exitOf(A, "sticky"));
    deepEqual(world.network.dials.slice(dials), [[direct(A)]], "retried the lost exit first");
    equal(world.hub.findCalls.length, finds, "no discovery needed");

    // The throttled rediscovery finds the port served and does nothing.
    world.clock.advance(COOLDOWN_MS);
    await settle();
    equal(world.network.dials.length, dials + 1);
    deepEqual(world.actor.activeExit(1080), exitOf(A, "sticky"));
  } finally {
    await world.actor.stop();
  }
});

test("loss: fail-fast, a client during the cooldown connects at once without the lost exit", async () => {
  const world = new World({ servers: [failFast()] });
  world.exit(A);
  world.exit(B);
  world.exit(C);
  try {
    const lost = await throttledAfterTwoLosses(world);
    equal(lost, B);
    ok(world.network.reachablePeers.has(B), "B is still reachable, but fail-fast rotates anyway");
    const dials = world.network.dials.length;

    const peer = await world.actor.exitForSession(1080);
    ok(peer !== undefined && peer !== B, `got ${peer}, not the lost exit`);
    deepEqual(world.exclusions().at(-1), [B]);
    ok(
      !world.network.dials.slice(dials).flat().includes(direct(B)),
      "the lost exit is not dialled",
    );
    ok(!world.pool(1080).includes(B), "and it is forgotten");
  } finally {
    await world.actor.stop();
  }
});

test("loss: a loss while a rediscovery is pending makes it avoid the latest lost exit", async () => {
  const world = new World({ servers: [failFast()] });
  world.exit(A);
  world.exit(B);
  world.exit(C);
  try {
    await throttledAfterTwoLosses(world); // A lost, then B lost: a rediscovery is pending
    world.clock.advance(1_000);
    const third = await world.actor.exitForSession(1080); // a client gets another exit
    ok(third !== undefined && third !== B);
    world.clock.advance(1_000);
    world.lose(third); // lost too, while the rediscovery for B is still pending
    await settle();
    equal(world.pendingBesidesPing().length, 1, "still one pending rediscovery");

    world.clock.advance(COOLDOWN_MS);
    await settle();
    deepEqual(world.exclusions().at(-1), [third], "avoids the exit lost last, not the first one");
    ok(world.actor.activeExit(1080) !== undefined);
    ok(world.actor.activeExit(1080)?.peerId !== third);
  } finally {
    await world.actor.stop();
  }
});

// ---------------------------------------------------------------------------
// Prefer direct

test("prefer direct: a direct connection to a pool member replaces a relayed exit", async () => {
  const world = new World({ pools: { 1080: [A, B] } });
  world.exit(A, { routes: [aCircuitAddress(A)] });
  world.exit(B);
  world.exit(C);
  try {
    world.actor.start();
    await settle();
    deepEqual(world.actor.activeExit(1080), exitOf(A, "sticky"));
    equal(world.network.connectedRoute(A)?.relayed, true);
    const announced = world.announced(1080).length;

    world.network.open(B, aCircuitAddress(B));
    world.network.open(C, direct(C));
    deepEqual(world.actor.activeExit(1080), exitOf(A, "sticky"), "relayed, or not in the pool");
    equal(world.announced(1080).length, announced);

    world.network.open(B, direct(B));
    deepEqual(world.actor.activeExit(1080), exitOf(B, "sticky"));
    deepEqual(world.announced(1080).at(-1), [B, { kind: "sticky" }]);
    equal(world.pool(1080)[0], B, "the new exit heads the pool");
    await settle();
    equal(world.store.record.servers["1080"]?.peers[0]?.peer_id, B);
  } finally {
    await world.actor.stop();
  }
});

test("prefer direct: a pinned or manually chosen exit is never switched away from", async (t) => {
  await t.step("pinned", async () => {
    const world = new World({
      servers: [aServer({ pinned: pinnedTo(A) })],
      pools: { 1080: [B] },
    });
    world.exit(A, { routes: [aCircuitAddress(A)] });
    world.exit(B);
    try {
      world.actor.start();
      await settle();
      deepEqual(world.actor.activeExit(1080), { peerId: A, source: { kind: "pinned", rank: 0 } });
      world.network.open(B, direct(B));
      deepEqual(world.actor.activeExit(1080), { peerId: A, source: { kind: "pinned", rank: 0 } });
    } finally {
      await world.actor.stop();
    }
  });

  await t.step("manual", async () => {
    const world = new World({ pools: { 1080: [B] } });
    world.exit(B);
    world.exit(C, { routes: [aCircuitAddress(C)], listed: false });
    try {
      world.actor.start();
      await settle();
      deepEqual(world.actor.activeExit(1080), exitOf(B, "sticky"));
      equal((await choose(world, 1080, C)).kind, "selected");
      deepEqual(world.actor.activeExit(1080), exitOf(C, "manual"));
      equal(world.network.connectedRoute(C)?.relayed, true);

      world.network.open(B, aDirectAddress(B, 99));
      deepEqual(world.actor.activeExit(1080), exitOf(C, "manual"));
    } finally {
      await world.actor.stop();
    }
  });
});

// ---------------------------------------------------------------------------
// Liveness

test("liveness: three failed pings in a row hang up; a success resets the count", async () => {
  const world = new World({ servers: [failFast()] });
  world.exit(A);
  world.exit(B);
  const fail = () => new Error("Ping timed out.");
  world.network.scriptPings(A, fail(), fail(), 7, fail(), fail(), fail());
  try {
    world.actor.start();
    await settle();
    deepEqual(world.actor.activeExit(1080), exitOf(A, "discovered"));
    world.clock.advance(PING_INTERVAL_MS - 1);
    await settle();
    deepEqual(world.network.pings, [], "not a millisecond early");

    world.clock.advance(1);
    await settle();
    for (let ping = 2; ping <= 6; ping++) {
      deepEqual(world.network.hangUps, [], `no hang-up before the 6th ping (sent ${ping - 1})`);
      world.clock.advance(PING_INTERVAL_MS);
      await settle();
    }
    deepEqual(world.network.pings, Array(6).fill(A), "one ping per interval");
    deepEqual(world.network.hangUps, [A]);
    const aboutA = world.events.events.flatMap((event) => {
      if (event.type === "ping" && event.peerId === A) return [`ok ${event.rttMs}`];
      if (event.type === "ping-failed" && event.peerId === A) return [`strike ${event.strikes}`];
      return [];
    });
    deepEqual(aboutA, ["strike 1", "strike 2", "ok 7", "strike 1", "strike 2", "strike 3"]);
    deepEqual(world.pendingBesidesPing(), [], "answered pings leave no timeout behind");

    // The hang-up closed A's last connection: a loss like any other.
    deepEqual(world.actor.activeExit(1080), exitOf(B, "discovered"));
    world.clock.advance(PING_INTERVAL_MS);
    await settle();
    deepEqual(world.network.pings.slice(6), [B], "the next ping goes to the new exit");
    deepEqual(world.network.hangUps, [A], "successful pings hang up nobody");
  } finally {
    await world.actor.stop();
  }
});

test("liveness: a ping unanswered for the ping timeout is a strike", async () => {
  const world = new World({ servers: [failFast()] });
  world.exit(A);
  world.exit(B);
  world.network.unanswered.add(A);
  try {
    world.actor.start();
    await settle();
    deepEqual(world.actor.activeExit(1080), exitOf(A, "discovered"));
    world.clock.advance(PING_INTERVAL_MS);
    await settle();
    deepEqual(world.network.pings, [A]);
    deepEqual(world.pendingBesidesPing(), [PING_TIMEOUT_MS], "the ping's timeout runs");

    world.clock.advance(PING_TIMEOUT_MS - 1);
    await settle();
    deepEqual(world.events.ofType("ping-failed"), [], "not a millisecond early");
    world.clock.advance(1);
    await settle();
    deepEqual(world.events.ofType("ping-failed").map((e) => e.strikes), [1]);

    // Two more unanswered pings: the third strike hangs up.
    world.clock.advance(PING_INTERVAL_MS);
    await settle();
    world.clock.advance(PING_INTERVAL_MS);
    await settle();
    deepEqual(world.events.ofType("ping-failed").map((e) => e.strikes), [1, 2, 3]);
    deepEqual(world.network.hangUps, [A]);
    deepEqual(world.actor.activeExit(1080), exitOf(B, "discovered"));
  } finally {
    await world.actor.stop();
  }
});

// ---------------------------------------------------------------------------
// Manual selection

test("manual selection: reaches the peer and makes it the exit; fails cleanly otherwise", async () => {
  const world = new World();
  world.exit(A);
  world.exit(B, { listed: false });
  world.exit(D, { listed: false, reachable: false });
  try {
    world.actor.start();
    await settle();
    deepEqual(world.actor.activeExit(1080), exitOf(A, "discovered"));

    equal((await choose(world, 1080, B)).kind, "selected");
    deepEqual(world.actor.activeExit(1080), exitOf(B, "manual"));
    deepEqual(world.announced(1080).at(-1), [B, { kind: "manual" }]);
    deepEqual(world.pool(1080), [B, A], "remembered first");
    await settle();
    equal(world.store.record.servers["1080"]?.peers[0]?.peer_id, B);

    const dials = world.network.dials.length;
    equal((await choose(world, 1080, D)).kind, "unreachable");
    equal(world.network.dials.length, dials + 1, "it was tried");
    deepEqual(world.actor.activeExit(1080), exitOf(B, "manual"), "the active exit stays");
    ok(world.events.errors().some((message) => message.includes(D)));

    equal((await choose(world, 9999, A)).kind, "unknown-port");
    equal(world.network.dials.length, dials + 1);
    deepEqual(world.actor.activeExit(1080), exitOf(B, "manual"));
  } finally {
    await world.actor.stop();
  }
});

test("manual selection: a connect still in flight does not undo the operator's choice", async () => {
  const world = new World();
  world.exit(B, { listed: false }); // reachable, not offered by discovery
  try {
    world.actor.start(); // the hub offers nothing yet: the start-up connect waits to retry
    await settle();
    equal(world.actor.activeExit(1080), undefined);

    equal((await choose(world, 1080, B)).kind, "selected");
    deepEqual(world.actor.activeExit(1080), exitOf(B, "manual"));

    world.exit(A); // now discovery would find A…
    for (let i = 0; i < 40 && world.hub.findCalls.length < 3; i++) {
      world.clock.advance(1_000);
      await settle();
    }
    ok(world.hub.findCalls.length >= 2, "the start-up connect kept trying");
    deepEqual(world.actor.activeExit(1080), exitOf(B, "manual"), "…but the manual choice stays");
  } finally {
    await world.actor.stop();
  }
});

test("manual selection: a choice against a hard pin or the filters is refused unless overridden", async () => {
  const NL = someAttributes({ country: "NL" });
  const world = new World({
    servers: [
      aServer({ port: 1080, pinned: pinnedTo(A) }),
      aServer({ port: 1081, filters: { ...NO_FILTERS, country: "NL" } }),
      aServer({
        port: 1082,
        pinned: pinnedTo(A),
        fallbackToDiscovery: true,
        filters: { ...NO_FILTERS, country: "SE" },
      }),
    ],
  });
  world.exit(A, { listed: false, attributes: NL });
  world.exit(B, { listed: false, attributes: someAttributes({ country: "DE" }) });
  world.exit(C, { attributes: NL });
  world.network.reachablePeers.add(D); // reachable, but the hub has never heard of it
  try {
    world.actor.start();
    await settle();
    deepEqual(world.actor.activeExit(1080), { peerId: A, source: { kind: "pinned", rank: 0 } });
    deepEqual(world.actor.activeExit(1081), exitOf(C, "discovered"));
    const dials = world.network.dials.length;

    const pinned = await choose(world, 1080, B);
    equal(pinned.kind, "refused");
    if (pinned.kind === "refused") {
      equal(pinned.conflict.rule, "hard-pin");
      ok(pinned.conflict.message.includes(`destination_peers [${A}]`), pinned.conflict.message);
    }
    deepEqual(world.hub.describeCalls, [], "a hard pin needs no attributes");

    const filtered = await choose(world, 1081, B);
    equal(filtered.kind, "refused");
    if (filtered.kind === "refused") {
      equal(filtered.conflict.rule, "filters");
      ok(filtered.conflict.message.includes('country "DE" is not "NL"'), filtered.conflict.message);
    }
    deepEqual(world.hub.describeCalls, [[B]], "the hub was asked what B is");

    const unknown = await choose(world, 1081, D);
    equal(unknown.kind, "refused");
    if (unknown.kind === "refused") {
      equal(unknown.conflict.rule, "filters-unverifiable");
      ok(unknown.conflict.message.includes("the hub does not know it"), unknown.conflict.message);
    }
    equal(world.network.dials.length, dials, "nothing refused was dialled");
    deepEqual(world.actor.activeExit(1080), { peerId: A, source: { kind: "pinned", rank: 0 } });
    deepEqual(world.actor.activeExit(1081), exitOf(C, "discovered"));

    equal((await choose(world, 1082, A)).kind, "selected", "a pinned peer is never filtered");
    equal(world.hub.describeCalls.length, 2, "…so its attributes are not asked for");

    world.hub.resolveFailing(new Error("the hub is down"));
    const hubDown = await choose(world, 1081, B);
    equal(hubDown.kind === "refused" && hubDown.conflict.rule, "filters-unverifiable");
    ok(hubDown.kind === "refused" && hubDown.conflict.message.includes("the hub is down"));

    world.exit(B, { listed: false, attributes: someAttributes({ country: "DE" }) }); // hub back
    deepEqual(await choose(world, 1080, B, true), { kind: "selected", exit: exitOf(B, "manual") });
    deepEqual(await choose(world, 1081, B, true), { kind: "selected", exit: exitOf(B, "manual") });
    deepEqual(world.actor.activeExit(1080), exitOf(B, "manual"));
    deepEqual(world.actor.activeExit(1081), exitOf(B, "manual"));
  } finally {
    await world.actor.stop();
  }
});

test("a hard pin whose exits all failed answers new clients at once, and recovers", async () => {
  const world = new World({
    servers: [aServer({ port: 1080, pinned: [{ peerId: A, address: direct(A) }] })],
    timings: { jitWaitMs: 60_000 },
  });
  world.exit(A, { listed: false, reachable: false });
  try {
    world.actor.start();
    // A whole pinned connect: 20 passes, 1 s apart on the (manual) clock.
    for (let i = 0; i < 25; i++) {
      world.clock.advance(1_000);
      await settle();
    }
    const answer = track(world.actor.exitForSession(1080));
    await settle();
    ok(answer.settled(), "answered without waiting out the JIT window");
    equal(await answer.promise, undefined);
    deepEqual(world.events.ofType("jit-discovery"), []);

    world.network.reachablePeers.add(A); // the pinned exit comes back: the background retry adopts it
    for (let i = 0; i < 40 && world.actor.activeExit(1080) === undefined; i++) {
      world.clock.advance(1_000);
      await settle();
    }
    deepEqual(world.actor.activeExit(1080), { peerId: A, source: { kind: "pinned", rank: 0 } });
    equal(await world.actor.exitForSession(1080), A);
  } finally {
    await world.actor.stop();
  }
});

// ---------------------------------------------------------------------------
// Unusable exits

test("unusable: the exit is forgotten everywhere, its ports rediscover, and it is never chosen again", async () => {
  const world = new World({ servers: [failFast(1080), failFast(1081)] });
  world.exit(A);
  world.exit(B);
  world.exit(C);
  try {
    world.actor.start();
    await settle();
    deepEqual(world.actor.activeExit(1080), exitOf(A, "discovered"));
    deepEqual(world.actor.activeExit(1081), exitOf(A, "discovered"));
    const dials = world.network.dials.length;

    world.actor.reportUnusable(A);
    ok(world.unusable.has(A));
    deepEqual(world.announced(1080).at(-1), [undefined, undefined]);
    deepEqual(world.announced(1081).at(-1), [undefined, undefined]);
    deepEqual(world.pool(1080), []);
    deepEqual(world.pool(1081), []);
    await settle();
    deepEqual(world.actor.activeExit(1080), exitOf(B, "discovered"));
    deepEqual(world.actor.activeExit(1081), exitOf(B, "discovered"));
    const saved = world.store.record.servers;
    ok(!JSON.stringify(saved).includes(A), "the saved pools no longer hold it");

    world.clock.advance(COOLDOWN_MS);
    world.lose(B);
    await settle();
    deepEqual(world.actor.activeExit(1080), exitOf(C, "discovered"));
    deepEqual(world.actor.activeExit(1081), exitOf(C, "discovered"));
    const later = world.network.dials.slice(dials).flat();
    ok(!later.includes(direct(A)), "never dialled again");
  } finally {
    await world.actor.stop();
  }
});

// ---------------------------------------------------------------------------
// Pinned reclaim

test("pinned reclaim: a port on rank 1 returns to rank 0 once it is reachable", async () => {
  const world = new World({ servers: [aServer({ pinned: pinnedTo(A, B) })] });
  world.exit(A, { reachable: false });
  world.exit(B);
  try {
    world.actor.start();
    await settle();
    deepEqual(world.actor.activeExit(1080), { peerId: B, source: { kind: "pinned", rank: 1 } });

    // While rank 0 stays down the port keeps rank 1 and only rank 0 is asked for.
    const resolves = world.hub.resolveCalls.length;
    world.clock.advance(PINNED_RECLAIM_INTERVAL_MS - 1);
    await settle();
    equal(world.hub.resolveCalls.length, resolves, "not a millisecond early");
    world.clock.advance(1);
    await settle();
    world.clock.advance(PINNED_RECLAIM_INTERVAL_MS);
    await settle();
    deepEqual(world.hub.resolveCalls.slice(resolves), [[A], [A]], "one pass per interval");
    deepEqual(world.actor.activeExit(1080), { peerId: B, source: { kind: "pinned", rank: 1 } });

    world.network.reachablePeers.add(A);
    world.clock.advance(PINNED_RECLAIM_INTERVAL_MS);
    await settle();
    deepEqual(world.actor.activeExit(1080), { peerId: A, source: { kind: "pinned", rank: 0 } });
    deepEqual(world.announced(1080).at(-1), [A, { kind: "pinned", rank: 0 }]);
  } finally {
    await world.actor.stop();
  }
});

test("pinned reclaim: an operator's choice made while a pass dials stays", async () => {
  const world = new World({ servers: [aServer({ pinned: pinnedTo(A, B) })] });
  world.exit(A, { reachable: false });
  world.exit(B);
  world.exit(C, { listed: false });
  try {
    world.actor.start();
    await settle();
    deepEqual(world.actor.activeExit(1080), { peerId: B, source: { kind: "pinned", rank: 1 } });

    world.network.reachablePeers.add(A);
    const release = world.network.holdDialsTo(A);
    world.clock.advance(PINNED_RECLAIM_INTERVAL_MS);
    await settle(); // the pass is dialling rank 0…
    equal((await choose(world, 1080, C, true)).kind, "selected"); // …when the operator picks C
    release();
    await settle();
    ok(world.network.isConnected(A), "the pass reached rank 0");
    deepEqual(world.actor.activeExit(1080), exitOf(C, "manual"), "but the operator's choice stays");
  } finally {
    await world.actor.stop();
  }
});

// ---------------------------------------------------------------------------
// stop()

test("stop: cancels connects in flight, stops the timers and unsubscribes", async () => {
  const world = new World({
    servers: [aServer({ port: 1080 }), aServer({ port: 1081, pinned: pinnedTo(C, D) })],
    timings: { pingIntervalMs: 5, pinnedReclaimIntervalMs: 5 },
  });
  world.exit(C, { listed: false });
  world.exit(D, { listed: false });
  const release = world.network.holdDials();
  try {
    world.actor.start();
    const waiters = [
      track(world.actor.exitForSession(1080)),
      track(world.actor.exitForSession(1081)),
    ];
    await settle();
    // 1080: the hub has no exits, so discovery pauses; 1081: the pinned dial hangs. Pending on the
    // clock besides: the ping and reclaim timers, and each client's JIT wait.
    deepEqual(world.clock.pending, [5, 5, 1_000, JIT_WAIT_MS, JIT_WAIT_MS]);
    equal(world.network.dials.length, 1);
    ok(waiters.every((w) => !w.settled()));

    await world.actor.stop();
    deepEqual(await Promise.all(waiters.map((w) => w.promise)), [undefined, undefined]);
    deepEqual(world.clock.pending, [], "the pause and every timer were cancelled");
    equal(world.network.listenerCount, 0, "unsubscribed");

    // Nothing the stopped actor started comes back to life.
    release();
    world.exit(A);
    world.clock.advance(60_000); // thousands of ping/reclaim periods
    await settle();
    equal(world.actor.activeExit(1080), undefined);
    equal(world.actor.activeExit(1081), undefined);
    equal(world.network.dials.length, 1, "no dial after stop");
    equal(world.hub.findCalls.length, 1, "no discovery after stop");
    deepEqual(world.network.pings, []);
  } finally {
    release();
    await world.actor.stop();
  }
});

test("stop: saves the sticky state as of stop()", async () => {
  const world = new World({ pools: { 1080: [A] } });
  world.exit(A, { listed: false, reachable: false }); // remembered, but gone
  try {
    world.actor.start();
    await settle();
    // The connect forgot A and is waiting to ask the hub again: nothing was adopted, nothing saved.
    deepEqual(world.pool(1080), []);
    ok(world.sticky.dirty);
    equal(world.store.saves, 0);

    await world.actor.stop();
    equal(world.store.saves, 1);
    deepEqual(world.store.record.servers, {}, "A is gone from the saved pools");
    equal(world.sticky.dirty, false);
  } finally {
    await world.actor.stop();
  }
});

test("stop: waits for a save in flight", async () => {
  const store = new GatedStore();
  const world = new World({ store });
  world.exit(A);
  try {
    world.actor.start();
    await settle();
    deepEqual(world.actor.activeExit(1080), exitOf(A, "discovered"));
    const stopping = track(world.actor.stop());
    await settle();
    ok(!stopping.settled(), "stop() waits for the save");
    store.release();
    await stopping.promise;
    deepEqual(store.record.servers["1080"]?.peers.map((p) => p.peer_id), [A]);
    equal(store.saves, 1);
  } finally {
    store.release();
    await world.actor.stop();
  }
});

// ---------------------------------------------------------------------------
// The mailbox

test("mailbox: a call made while a message is handled waits its turn", async () => {
  const world = new World({ servers: [failFast()] });
  world.exit(A);
  world.exit(B);
  // An event sink that reacts to the adoption of A by reporting A unusable: the report arrives
  // while the actor is still adopting A, so it must wait until the adoption is done.
  world.events.onEmit = (event) => {
    if (event.type === "active-destination" && event.peerId === A) world.actor.reportUnusable(A);
  };
  try {
    world.actor.start();
    await settle();
    deepEqual(world.announced(1080), [
      [undefined, undefined],
      [A, { kind: "discovered" }],
      [undefined, undefined],
      [B, { kind: "discovered" }],
    ]);
    deepEqual(world.actor.activeExit(1080), exitOf(B, "discovered"), "the port found another exit");
    deepEqual(world.pool(1080), [B]);
    deepEqual(world.exclusions(), [[], []], "a second discovery, after A was marked unusable");
  } finally {
    await world.actor.stop();
  }
});
