/**
 * Username sessions across restarts and lost exits (docs/proxy-behaviour.md#sessions): the actor
 * saves each session's exit in the sticky store, a new actor over the saved sessions leaves from
 * the saved exit (even where the session id would now hash to another), honours the session's
 * lifetime, and a session whose exit is gone moves — logged and counted (`session-moved`).
 */
import { deepEqual, equal, notEqual, ok } from "node:assert/strict";
import { NO_FILTERS } from "../core/domain/attributes.ts";
import { ExitConnector, spreadIndex } from "../core/domain/connect.ts";
import { StickyState } from "../core/domain/sticky_state.ts";
import type { PeerId } from "../core/ids.ts";
import {
  emptyStickySessionsRecord,
  type StickySessionsRecord,
} from "../core/ports/sticky_store.ts";
import { aDirectAddress, aPeerId, someAttributes } from "../core/testing/builders.ts";
import {
  FakeClock,
  FakeDirectory,
  MemoryStickyStore,
  RecordingSink,
} from "../core/testing/fakes.ts";
import { FakeNetwork } from "./_fake_network.ts";
import { DiscoveryActor, UnusableExits } from "./discovery_actor.ts";

const [NL1, NL2] = [aPeerId(1), aPeerId(2)] as [PeerId, PeerId];
const SORTED = [NL1, NL2].sort();

/** A sticky store that keeps sessions too (the memory plugin's behaviour, behind the port). */
class SessionsStore extends MemoryStickyStore {
  sessions: StickySessionsRecord = emptyStickySessionsRecord();
  sessionSaves = 0;
  loadSessions(): Promise<StickySessionsRecord> {
    return Promise.resolve(structuredClone(this.sessions));
  }
  saveSessions(record: StickySessionsRecord): Promise<void> {
    this.sessionSaves++;
    this.sessions = structuredClone(record);
    return Promise.resolve();
  }
}

/** Two NL exits on a hub; one actor ("a proxy run") over `store`, restartable. */
class World {
  readonly clock = new FakeClock();
  readonly hub = new FakeDirectory();
  readonly network = new FakeNetwork(NL1, NL2);
  events = new RecordingSink();
  actor!: DiscoveryActor;

  constructor(readonly store = new SessionsStore()) {
    this.hub.setExits([NL1, NL2].map((peerId, i) => ({
      peerId,
      routes: [aDirectAddress(peerId, 11 + i)],
      attributes: someAttributes({ country: "NL" }),
    })));
  }

  /** Starts an actor as the proxy does: over what the store loads. */
  async start(): Promise<void> {
    this.events = new RecordingSink();
    const sticky = StickyState.fromRecord(await this.store.load());
    const unusable = new UnusableExits(() => this.clock.now());
    const connector = new ExitConnector({
      directory: this.hub,
      dialer: this.network,
      clock: this.clock,
      events: this.events,
      sticky,
      isUnusable: (peer) => unusable.has(peer),
    });
    this.actor = new DiscoveryActor({
      servers: [],
      network: this.network,
      directory: this.hub,
      connector,
      sticky,
      unusable,
      store: this.store,
      clock: this.clock,
      events: this.events,
      sessions: await this.store.loadSessions(),
    });
    this.actor.start();
  }

  /** Stops the actor (it saves) and drops every connection, as a process exit does. */
  async restart(): Promise<void> {
    await this.actor.stop();
    for (const peer of [NL1, NL2]) while (this.network.close(peer));
    await this.start();
  }

  exitFor(session: string, idleMs?: number): Promise<PeerId | undefined> {
    return this.actor.exitForSelection({
      filters: { ...NO_FILTERS, country: "NL" },
      session,
      owner: "alice",
      ...(idleMs === undefined ? {} : { idleMs }),
    }, AbortSignal.timeout(5_000));
  }
}

/** A session id whose spread index picks `peer` among the two exits. */
function sessionHashingTo(peer: PeerId, prefix: string): string {
  for (let i = 0;; i++) {
    const id = `${prefix}${i}`;
    if (SORTED[spreadIndex(id, SORTED.length)] === peer) return id;
  }
}

Deno.test("sessions: a session's exit is saved, and after a restart it leaves from it again", async () => {
  const world = new World();
  await world.start();
  try {
    // Only NL1 is up when the session starts, though its id hashes to NL2.
    const id = sessionHashingTo(NL2, "r");
    world.network.reachablePeers.delete(NL2);
    equal(await world.exitFor(id), NL1);
    await world.actor.stop();
    const saved = Object.values(world.store.sessions.sessions);
    deepEqual(saved.map((s) => [s.peer_id, s.owner, s.idle_ms]), [[NL1, "alice", 600_000]]);

    world.network.reachablePeers.add(NL2);
    await world.restart();
    world.clock.advance(9 * 60_000);
    equal(await world.exitFor(id), NL1, "the saved exit, not the one the id hashes to");
    equal(world.events.ofType("session-moved").length, 0);
    equal(world.hub.findCalls.length, 1, "no discovery after the restart: the saved exit answered");
  } finally {
    await world.actor.stop();
  }
});

Deno.test("sessions: a saved session past its ttl is not restored", async () => {
  const world = new World();
  await world.start();
  try {
    const id = sessionHashingTo(NL2, "t");
    world.network.reachablePeers.delete(NL2);
    equal(await world.exitFor(id, 60_000), NL1);
    world.network.reachablePeers.add(NL2);
    await world.restart();
    world.clock.advance(61_000);
    equal(await world.exitFor(id, 60_000), NL2, "a new session: the id's own exit");
    equal(world.events.ofType("session-moved").length, 0, "a session that ended does not move");
  } finally {
    await world.actor.stop();
  }
});

Deno.test("sessions: a restored session whose exit is gone moves, logged and counted", async () => {
  const world = new World();
  await world.start();
  try {
    const id = sessionHashingTo(NL1, "m");
    equal(await world.exitFor(id), NL1);
    world.network.reachablePeers.delete(NL1);
    await world.restart();
    equal(await world.exitFor(id), NL2);
    deepEqual(
      world.events.ofType("session-moved").map((e) => [e.session, e.account, e.from, e.to]),
      [[id, "alice", NL1, NL2]],
    );
    await world.actor.stop();
    deepEqual(Object.values(world.store.sessions.sessions).map((s) => s.peer_id), [NL2]);
  } finally {
    await world.actor.stop();
  }
});

Deno.test("sessions: a running session whose exit is lost moves on its next use", async () => {
  const world = new World();
  await world.start();
  try {
    const first = await world.exitFor("live");
    ok(first !== undefined);
    world.network.reachablePeers.delete(first);
    while (world.network.close(first));
    const second = await world.exitFor("live");
    ok(second !== undefined);
    notEqual(second, first);
    const moves = world.events.ofType("session-moved");
    deepEqual(moves.map((e) => [e.from, e.to]), [[first, second]]);
  } finally {
    await world.actor.stop();
  }
});

Deno.test("sessions: a session that ended (its ttl passed) is not saved again", async () => {
  const world = new World();
  await world.start();
  try {
    for (let i = 0; i < 3; i++) await world.exitFor(`b${i}`, 60_000);
    await world.actor.stop();
    equal(Object.keys(world.store.sessions.sessions).length, 3);
    await world.start();
    world.clock.advance(61_000);
    await world.exitFor("fresh");
    await world.actor.stop();
    deepEqual(
      Object.keys(world.store.sessions.sessions).map((key) => key.replace(/.*session=/, "")),
      ["fresh"],
      "ended sessions are not saved again",
    );
  } finally {
    await world.actor.stop();
  }
});
