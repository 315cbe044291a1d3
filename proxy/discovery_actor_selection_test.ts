/**
 * The discovery actor's selections (docs/client.md#sessions): sessions that bring their own
 * filters and session id get a server of their own, keyed by what they ask for, bounded by a
 * count (least recently used dropped first) and an idle time; such a server connects only when
 * asked, never retries on its own, and finds another exit on its next use after a loss.
 */
import { deepEqual, equal, notEqual, ok } from "node:assert/strict";
import { NO_FILTERS, type ServerFilters } from "../core/domain/attributes.ts";
import { ExitConnector } from "../core/domain/connect.ts";
import type { ExitSelection } from "../core/domain/server.ts";
import { StickyState } from "../core/domain/sticky_state.ts";
import type { PeerId } from "../core/ids.ts";
import { aDirectAddress, aPeerId, someAttributes } from "../core/testing/builders.ts";
import {
  FakeClock,
  FakeDirectory,
  MemoryStickyStore,
  RecordingSink,
} from "../core/testing/fakes.ts";
import { FakeNetwork } from "./_fake_network.ts";
import {
  DiscoveryActor,
  type DiscoveryActorDeps,
  SELECTION_PORT_BASE,
  UnusableExits,
} from "./discovery_actor.ts";

const [NL1, NL2, DE1] = [aPeerId(1), aPeerId(2), aPeerId(3)] as [PeerId, PeerId, PeerId];

/** A hub with two exits in NL and one in DE, all reachable; an actor with no configured server. */
class World {
  readonly clock = new FakeClock();
  readonly hub = new FakeDirectory();
  readonly network = new FakeNetwork(NL1, NL2, DE1);
  readonly events = new RecordingSink();
  readonly actor: DiscoveryActor;

  constructor(selections?: DiscoveryActorDeps["selections"]) {
    this.hub.setExits([
      exit(NL1, "NL", 11),
      exit(NL2, "NL", 12),
      exit(DE1, "DE", 13),
    ]);
    const sticky = new StickyState();
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
      store: new MemoryStickyStore(),
      clock: this.clock,
      events: this.events,
      ...(selections ? { selections } : {}),
    });
    this.actor.start();
  }

  /** The exit a session with `filters` (and `session`) gets. */
  exitFor(filters: Partial<ServerFilters>, session?: string): Promise<PeerId | undefined> {
    const selection: ExitSelection = {
      filters: { ...NO_FILTERS, ...filters },
      ...(session === undefined ? {} : { session }),
    };
    return this.actor.exitForSelection(selection, AbortSignal.timeout(5_000));
  }

  /** The ports the actor announced exits for, in order, without repeats. */
  announcedPorts(): number[] {
    return [...new Set(this.events.ofType("active-destination").map((e) => e.port))];
  }
}

function exit(peerId: PeerId, country: string, host: number) {
  return {
    peerId,
    routes: [aDirectAddress(peerId, host)],
    attributes: someAttributes({ country }),
  };
}

Deno.test("selections: each filter set gets an exit that matches it, and keeps it", async () => {
  const world = new World();
  try {
    const nl = await world.exitFor({ country: "NL" });
    const de = await world.exitFor({ country: "DE" });
    ok(nl === NL1 || nl === NL2, `an NL exit, got ${nl}`);
    equal(de, DE1);
    equal(world.hub.findCalls.length, 2, "one discovery per filter set");
    deepEqual(world.hub.findCalls.map((q) => q.filters.country), ["NL", "DE"]);

    equal(await world.exitFor({ country: "NL" }), nl, "the same filters, the same exit");
    equal(await world.exitFor({ country: "DE" }), DE1);
    equal(world.hub.findCalls.length, 2, "a selection with an exit answers without discovery");
    equal(world.actor.selectionCount, 2);
    ok(world.announcedPorts().every((port) => port >= SELECTION_PORT_BASE));
  } finally {
    await world.actor.stop();
  }
});

Deno.test("selections: a session id is a selection of its own, kept while it is used", async () => {
  const world = new World({ idleMs: 60_000 });
  try {
    const shared = await world.exitFor({ country: "NL" });
    const session = await world.exitFor({ country: "NL" }, "abc");
    ok(session === NL1 || session === NL2);
    equal(world.hub.findCalls.length, 2, "the session discovers on its own");
    equal(world.actor.selectionCount, 2);

    world.clock.advance(59_000);
    equal(await world.exitFor({ country: "NL" }, "abc"), session, "used within the idle time");
    world.clock.advance(59_000);
    equal(await world.exitFor({ country: "NL" }, "abc"), session, "each use restarts it");
    equal(world.hub.findCalls.length, 2);

    world.clock.advance(60_000);
    await world.exitFor({ country: "NL" }, "abc");
    equal(world.hub.findCalls.length, 3, "an idle session ends: its next use discovers again");
    equal(world.actor.selectionCount, 1, "the idle shared selection was dropped too");
    notEqual(shared, undefined);
  } finally {
    await world.actor.stop();
  }
});

Deno.test("selections: past the bound the least recently used is dropped and its port reused", async () => {
  const world = new World({ max: 2 });
  try {
    await world.exitFor({}, "a");
    await world.exitFor({}, "b");
    await world.exitFor({}, "a"); // now "b" is the least recently used
    await world.exitFor({}, "c");
    equal(world.actor.selectionCount, 2);
    equal(world.hub.findCalls.length, 3);

    await world.exitFor({}, "a");
    equal(world.hub.findCalls.length, 3, '"a" was kept');
    await world.exitFor({}, "b");
    equal(world.hub.findCalls.length, 4, '"b" was dropped: it discovers again');
    deepEqual(
      world.announcedPorts().sort(),
      [SELECTION_PORT_BASE, SELECTION_PORT_BASE + 1],
      "two selections at a time use two ports, whatever their count over time",
    );
  } finally {
    await world.actor.stop();
  }
});

Deno.test("selections: no matching exit answers undefined once the connect gives up, and nothing retries", async () => {
  const world = new World();
  try {
    equal(await world.exitFor({ country: "FR" }), undefined);
    const asked = world.hub.findCalls.length;
    ok(asked > 1, "discovery tried more than once");
    world.clock.advance(120_000);
    await new Promise((resolve) => setTimeout(resolve, 0));
    equal(world.hub.findCalls.length, asked, "no background retry for a selection");
  } finally {
    await world.actor.stop();
  }
});

Deno.test("selections: a lost exit is replaced on the next use, avoiding it", async () => {
  const world = new World();
  try {
    const first = await world.exitFor({ country: "NL" }, "s");
    ok(first !== undefined);
    world.network.reachablePeers.delete(first);
    while (world.network.close(first));
    const calls = world.hub.findCalls.length;
    await new Promise((resolve) => setTimeout(resolve, 0));
    equal(world.hub.findCalls.length, calls, "no rediscovery until a session asks");

    const second = await world.exitFor({ country: "NL" }, "s");
    ok(second !== undefined && second !== first, `moved to the other NL exit, got ${second}`);
    deepEqual(world.hub.findCalls.at(-1)?.exclude, [first]);
  } finally {
    await world.actor.stop();
  }
});

Deno.test("selections: a username's ttl, its account's bound, and sessions spread over exits", async (t) => {
  const world = new World({ idleMs: 600_000, perOwner: 2 });
  const asked = (session: string, extra: Partial<ExitSelection> = {}) =>
    world.actor.exitForSelection(
      { filters: { ...NO_FILTERS, country: "NL" }, session, owner: "alice", ...extra },
      AbortSignal.timeout(5_000),
    );
  try {
    await t.step("a session's own ttl ends it, not the port default", async () => {
      const first = await asked("alice/t", { idleMs: 30_000 });
      ok(first === NL1 || first === NL2);
      const calls = world.hub.findCalls.length;
      world.clock.advance(29_000);
      equal(await asked("alice/t", { idleMs: 30_000 }), first);
      equal(world.hub.findCalls.length, calls, "used within its ttl: no discovery");
      world.clock.advance(31_000);
      await asked("alice/t", { idleMs: 30_000 });
      equal(world.hub.findCalls.length, calls + 1, "past its ttl it discovers again");
    });
    await t.step("an account keeps at most its bound of sessions", async () => {
      await asked("alice/u");
      equal(world.actor.selectionCount, 2);
      await asked("alice/v");
      equal(world.actor.selectionCount, 2, "alice's least recently used session was dropped");
      await world.actor.exitForSelection(
        { filters: { ...NO_FILTERS, country: "NL" }, session: "bob/u", owner: "bob" },
        AbortSignal.timeout(5_000),
      );
      equal(world.actor.selectionCount, 3, "another account has a bound of its own");
    });
    await t.step("different session ids spread over the matching exits", async () => {
      const exits = new Set<PeerId | undefined>();
      for (let i = 0; i < 12; i++) {
        exits.add(
          await world.actor.exitForSelection(
            { filters: { ...NO_FILTERS, country: "NL" }, session: `carol/s${i}` },
            AbortSignal.timeout(5_000),
          ),
        );
      }
      deepEqual([...exits].sort(), [NL1, NL2].sort(), "both NL exits carry sessions");
    });
  } finally {
    await world.actor.stop();
  }
});
