import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { asMultiaddr, type Multiaddr, type PeerId } from "../ids.ts";
import { DialError } from "../ports/dialer.ts";
import { DirectoryError } from "../ports/peer_directory.ts";
import {
  aCircuitAddress,
  aDirectAddress,
  aPeerId,
  aPeerRecord,
  aRelayAddress,
  aServer,
  pinnedTo,
} from "../testing/builders.ts";
import { FakeClock, FakeDialer, FakeDirectory, RecordingSink } from "../testing/fakes.ts";
import { Backoff } from "./backoff.ts";
import {
  type DirectSwitchInput,
  discoveryRoutes,
  ExitConnectError,
  type ExitConnectErrorCode,
  ExitConnector,
  pinnedCandidateRoutes,
  retryForever,
  shouldPreferDirect,
} from "./connect.ts";
import {
  DISCOVERY_RETRY_INTERVAL_MS,
  FIND_NODES_LIMIT,
  MAX_DISCOVERY_ATTEMPTS,
  MAX_PINNED_PASSES,
  PINNED_PASS_INTERVAL_MS,
  STICKY_RECONNECT_ATTEMPTS,
} from "./constants.ts";
import { serverFingerprint } from "./fingerprint.ts";
import type { ExitSelectionSettings } from "./server.ts";
import { SingleFlight } from "./single_flight.ts";
import { StickyState } from "./sticky_state.ts";

const PORT = 1080;
const relayAddress = aRelayAddress();
const [p, q, r] = [aPeerId(1), aPeerId(2), aPeerId(3)] as [PeerId, PeerId, PeerId];

function fingerprint(server: ExitSelectionSettings = aServer()): string {
  return serverFingerprint(server.port, server.filters);
}

function circuitTo(peer: PeerId): Multiaddr {
  return aCircuitAddress(peer, relayAddress);
}

interface World {
  directory: FakeDirectory;
  dialer: FakeDialer;
  clock: FakeClock;
  events: RecordingSink;
  sticky: StickyState;
  connector: ExitConnector;
}

function world(parts: Partial<Pick<World, "directory" | "dialer" | "sticky">> = {}): World {
  const directory = parts.directory ?? new FakeDirectory();
  const dialer = parts.dialer ?? new FakeDialer();
  const sticky = parts.sticky ?? new StickyState();
  const clock = new FakeClock();
  const events = new RecordingSink();
  const connector = new ExitConnector({ directory, dialer, clock, events, sticky, relayAddress });
  return { directory, dialer, clock, events, sticky, connector };
}

/** A sticky state whose pool for the default server holds `peers`, most recent first. */
function remembering(...peers: PeerId[]): StickyState {
  const sticky = new StickyState();
  for (const peer of [...peers].reverse()) sticky.remember(PORT, fingerprint(), peer, 30, 0);
  return sticky;
}

async function connectError(
  promise: Promise<unknown>,
  code: ExitConnectErrorCode,
): Promise<ExitConnectError> {
  let caught: unknown;
  await rejects(promise, (error: unknown) => {
    caught = error;
    return error instanceof ExitConnectError && error.code === code;
  });
  return caught as ExitConnectError;
}

function repeat<T>(value: T, count: number): T[] {
  return Array.from({ length: count }, () => value);
}

Deno.test("discovery", async (t) => {
  await t.step("adopts a discovered exit and remembers it", async () => {
    const w = world({
      directory: new FakeDirectory().queueFind([aPeerRecord(p)]),
      dialer: FakeDialer.reaching(p),
    });
    const destination = await w.connector.connect(aServer());
    deepEqual(destination, { peerId: p, source: { kind: "discovered" } });
    deepEqual(w.sticky.pool(PORT, fingerprint()), [p], "the exit is remembered");
    equal(w.sticky.entries(PORT)[0]?.updatedAt, w.clock.now());
    deepEqual(w.directory.findCalls, [{
      filters: aServer().filters,
      limit: FIND_NODES_LIMIT,
      exclude: [],
    }]);
    deepEqual(w.dialer.dials, [[aDirectAddress(p)]]);
    deepEqual(w.clock.sleeps, []);
    deepEqual(w.events.ofType("server-pool"), [{
      type: "server-pool",
      port: PORT,
      peers: [{ peerId: p, addresses: [aDirectAddress(p)] }],
    }]);
    deepEqual(w.events.events.at(-1), {
      type: "sticky-pool",
      port: PORT,
      peers: [{ peerId: p, addresses: [] }],
    });
    deepEqual(w.events.errors(), []);
  });

  await t.step("races every candidate's routes in one dial", async () => {
    const w = world({
      directory: new FakeDirectory().queueFind([aPeerRecord(p), aPeerRecord(q)]),
      dialer: FakeDialer.reaching(q),
    });
    const destination = await w.connector.connect(aServer());
    equal(destination.peerId, q);
    deepEqual(w.dialer.dials, [[aDirectAddress(p), aDirectAddress(q)]]);
  });

  await t.step("prefers the direct route: the circuit is never dialled", async () => {
    const direct = aDirectAddress(p);
    const w = world({
      directory: new FakeDirectory().queueFind([aPeerRecord(p, [circuitTo(p), direct])]),
      dialer: FakeDialer.reachingAddresses(direct, circuitTo(p)),
    });
    const destination = await w.connector.connect(aServer());
    deepEqual(destination, { peerId: p, source: { kind: "discovered" } });
    deepEqual(w.dialer.dials, [[direct]], "one dial, direct only");
    equal(w.dialer.connectedRoute(p)?.relayed, false);
  });

  await t.step("falls back to the circuit only when no direct route connects", async () => {
    const w = world({
      directory: new FakeDirectory().queueFind([aPeerRecord(p, [aDirectAddress(p), circuitTo(p)])]),
      dialer: FakeDialer.reachingAddresses(circuitTo(p)),
    });
    equal((await w.connector.connect(aServer())).peerId, p);
    deepEqual(w.dialer.dials, [[aDirectAddress(p)], [circuitTo(p)]]);
    equal(w.dialer.connectedRoute(p)?.relayed, true);
  });

  await t.step("a candidate without routes gets a circuit through the hub", async () => {
    const w = world({
      directory: new FakeDirectory().queueFind([aPeerRecord(p, [])]),
      dialer: FakeDialer.reaching(p),
    });
    equal((await w.connector.connect(aServer())).peerId, p);
    deepEqual(w.dialer.dials, [[circuitTo(p)]]);
  });

  await t.step("retries until candidates appear, 1 s apart", async () => {
    const w = world({
      directory: new FakeDirectory().queueFind(
        [],
        new DirectoryError("timeout", "The hub did not answer."),
        [aPeerRecord(p)],
      ),
      dialer: FakeDialer.reaching(p),
    });
    equal((await w.connector.connect(aServer())).peerId, p);
    equal(w.directory.findCalls.length, 3);
    deepEqual(w.clock.sleeps, [DISCOVERY_RETRY_INTERVAL_MS, DISCOVERY_RETRY_INTERVAL_MS]);
    equal(w.events.ofType("server-pool").length, 2, "a failed query shows no pool");
  });

  await t.step("retries when no candidate connects", async () => {
    const w = world({
      directory: new FakeDirectory().queueFind([aPeerRecord(q)], [aPeerRecord(p)]),
      dialer: FakeDialer.reaching(p),
    });
    equal((await w.connector.connect(aServer())).peerId, p);
    deepEqual(w.dialer.dials, [[aDirectAddress(q)], [aDirectAddress(p)]]);
    deepEqual(w.clock.sleeps, [DISCOVERY_RETRY_INTERVAL_MS]);
  });

  await t.step("gives up after 20 attempts with an error event", async () => {
    const w = world();
    const error = await connectError(w.connector.connect(aServer()), "discovery-exhausted");
    equal(error.port, PORT);
    ok(error.message.includes("port 1080"), error.message);
    equal(w.directory.findCalls.length, MAX_DISCOVERY_ATTEMPTS);
    deepEqual(w.clock.sleeps, repeat(DISCOVERY_RETRY_INTERVAL_MS, MAX_DISCOVERY_ATTEMPTS - 1));
    deepEqual(w.events.ofType("error"), [{ type: "error", port: PORT, message: error.message }]);
  });

  await t.step("gives up after 20 attempts when nothing connects", async () => {
    const directory = new FakeDirectory().queueFind(
      ...repeat([aPeerRecord(p)], MAX_DISCOVERY_ATTEMPTS),
    );
    const w = world({ directory });
    await connectError(w.connector.connect(aServer()), "discovery-exhausted");
    equal(w.dialer.dialCount, MAX_DISCOVERY_ATTEMPTS);
    equal(w.clock.sleeps.length, MAX_DISCOVERY_ATTEMPTS - 1);
    deepEqual(w.sticky.ports(), [], "nothing remembered");
  });

  await t.step("a non-sticky server neither walks nor fills the pool", async () => {
    const w = world({
      directory: new FakeDirectory().queueFind([aPeerRecord(p)]),
      dialer: FakeDialer.reaching(p, q),
      sticky: remembering(q),
    });
    const destination = await w.connector.connect(aServer({ sticky: false }));
    deepEqual(destination, { peerId: p, source: { kind: "discovered" } });
    deepEqual(w.sticky.pool(PORT, fingerprint()), [q]);
    deepEqual(w.directory.resolveCalls, [], "the pool was not walked");
  });
});

Deno.test("sticky pool", async (t) => {
  await t.step(
    "reconnects a remembered exit through a circuit when the hub has no route",
    async () => {
      for (
        const directory of [
          new FakeDirectory(),
          new FakeDirectory().resolveFailing(new DirectoryError("timeout", "Late.")),
        ]
      ) {
        const w = world({ directory, dialer: FakeDialer.reaching(p), sticky: remembering(p) });
        deepEqual(await w.connector.connect(aServer()), { peerId: p, source: { kind: "sticky" } });
        deepEqual(w.dialer.dials, [[circuitTo(p)]]);
        deepEqual(w.directory.findCalls, [], "never fell through to discovery");
      }
    },
  );

  await t.step("a hub that cannot resolve gets circuits synthesised", async () => {
    const w = world({
      directory: new FakeDirectory().resolveUnsupported(),
      dialer: FakeDialer.reaching(p),
      sticky: remembering(p),
    });
    deepEqual(await w.connector.connect(aServer()), { peerId: p, source: { kind: "sticky" } });
    deepEqual(w.dialer.dials, [[circuitTo(p)]]);
    deepEqual(w.directory.findCalls, []);
  });

  await t.step("dials the remembered direct address, tagged with the peer id", async () => {
    const sticky = remembering(p);
    sticky.noteDirectAddress(p, asMultiaddr("/ip4/203.0.113.9/tcp/4001"), 0);
    const tagged = asMultiaddr(`/ip4/203.0.113.9/tcp/4001/p2p/${p}`);
    const w = world({ dialer: FakeDialer.reachingAddresses(tagged), sticky });
    deepEqual(await w.connector.connect(aServer()), { peerId: p, source: { kind: "sticky" } });
    deepEqual(w.dialer.dials, [[tagged]], "one dial; the circuit stays a last resort");
    deepEqual(w.directory.findCalls, []);
  });

  await t.step("races a stale remembered address with the hub's fresh route", async () => {
    const stale = asMultiaddr(`/ip4/203.0.113.7/tcp/9/p2p/${p}`);
    const fresh = aDirectAddress(p);
    const sticky = remembering(p);
    sticky.noteDirectAddress(p, stale, 0);
    const w = world({
      directory: new FakeDirectory().setRoutes({ [p]: [fresh] }),
      dialer: FakeDialer.reachingAddresses(fresh),
      sticky,
    });
    deepEqual(await w.connector.connect(aServer()), { peerId: p, source: { kind: "sticky" } });
    deepEqual(w.dialer.dials, [[stale, fresh]], "one race, not one after the other");
  });

  await t.step("walks the pool most recent first and forgets who cannot be reached", async () => {
    const w = world({
      directory: new FakeDirectory().setRoutes({
        [p]: [aDirectAddress(p)],
        [q]: [aDirectAddress(q)],
      }),
      dialer: FakeDialer.reaching(q),
      sticky: remembering(p, q, r),
    });
    deepEqual(await w.connector.connect(aServer()), { peerId: q, source: { kind: "sticky" } });
    deepEqual(w.directory.resolveCalls, [[p], [q]]);
    deepEqual(w.sticky.pool(PORT, fingerprint()), [q, r], "p forgotten, q promoted, r kept");
    deepEqual(w.clock.sleeps, [], "no pauses inside the pool walk");
  });

  await t.step("an empty walk falls through to discovery", async () => {
    const w = world({
      directory: new FakeDirectory().queueFind([aPeerRecord(r)]),
      dialer: FakeDialer.reaching(r),
      sticky: remembering(p, q),
    });
    deepEqual(await w.connector.connect(aServer()), { peerId: r, source: { kind: "discovered" } });
    deepEqual(w.sticky.pool(PORT, fingerprint()), [r]);
  });

  await t.step("a pool chosen under other filters is not walked", async () => {
    const server = aServer({ filters: { ...aServer().filters, country: "DE" } });
    const w = world({
      directory: new FakeDirectory().queueFind([aPeerRecord(q)]),
      dialer: FakeDialer.reaching(p, q),
      sticky: remembering(p),
    });
    deepEqual(await w.connector.connect(server), { peerId: q, source: { kind: "discovered" } });
    deepEqual(w.directory.resolveCalls, []);
    deepEqual(w.sticky.pool(PORT, fingerprint(server)), [q]);
  });
});

Deno.test("losing the active exit", async (t) => {
  await t.step(
    "with-backoff: retries the lost exit 1 s then 2 s apart, then forgets it",
    async () => {
      const w = world({
        directory: new FakeDirectory().queueFind([aPeerRecord(q)]),
        dialer: FakeDialer.reaching(q),
        sticky: remembering(p),
      });
      const destination = await w.connector.connect(aServer(), { avoid: p });
      deepEqual(destination, { peerId: q, source: { kind: "discovered" } });
      deepEqual(w.clock.sleeps, [1_000, 2_000]);
      deepEqual(w.directory.resolveCalls, repeat([p], STICKY_RECONNECT_ATTEMPTS));
      deepEqual(w.sticky.pool(PORT, fingerprint()), [q], "old forgotten, fresh remembered");
      deepEqual(w.directory.findCalls[0]?.exclude, [p]);
    },
  );

  await t.step("with-backoff: a lost exit that comes back is kept", async () => {
    let attempts = 0;
    const w = world({ dialer: new FakeDialer(), sticky: remembering(p, q) });
    w.dialer.onDial = () => {
      attempts++;
      if (attempts < 3) return Promise.reject(new DialError("none-connected", "Not yet."));
      return Promise.resolve(p);
    };
    const destination = await w.connector.connect(aServer(), { avoid: p });
    deepEqual(destination, { peerId: p, source: { kind: "sticky" } });
    deepEqual(w.clock.sleeps, [1_000, 2_000]);
    deepEqual(w.sticky.pool(PORT, fingerprint()), [p, q]);
    deepEqual(w.directory.findCalls, []);
  });

  await t.step("with-backoff: after the lost exit, the rest of the pool comes first", async () => {
    const w = world({ dialer: FakeDialer.reaching(q), sticky: remembering(p, q) });
    deepEqual(await w.connector.connect(aServer(), { avoid: p }), {
      peerId: q,
      source: { kind: "sticky" },
    });
    deepEqual(w.sticky.pool(PORT, fingerprint()), [q]);
  });

  await t.step("fail-fast: rotates at once without retrying the lost exit", async () => {
    const w = world({ dialer: FakeDialer.reaching(p, q), sticky: remembering(p, q) });
    const server = aServer({ stickyReconnect: "fail-fast" });
    const destination = await w.connector.connect(server, { avoid: p });
    deepEqual(destination, { peerId: q, source: { kind: "sticky" } });
    deepEqual(w.clock.sleeps, []);
    deepEqual(w.directory.resolveCalls, [[q]], "p is not tried");
    deepEqual(w.sticky.pool(PORT, fingerprint()), [q], "p forgotten");
  });

  await t.step("the lost exit is excluded from discovery", async () => {
    const w = world({
      directory: new FakeDirectory().queueFind([aPeerRecord(p), aPeerRecord(q)]),
      dialer: FakeDialer.reaching(p, q),
    });
    const server = aServer({ stickyReconnect: "fail-fast" });
    deepEqual(await w.connector.connect(server, { avoid: p }), {
      peerId: q,
      source: { kind: "discovered" },
    });
    deepEqual(w.directory.findCalls[0]?.exclude, [p]);
    ok(!w.dialer.dialedAddresses.includes(aDirectAddress(p)), "p never dialled");
  });

  await t.step(
    "a hub that ignores the exclusion still does not get the lost exit dialled",
    async () => {
      const w = world({
        directory: new FakeDirectory().queueFind([aPeerRecord(p), aPeerRecord(q)]),
        dialer: FakeDialer.reaching(p, q),
      });
      w.directory.honoursExclude = false;
      const server = aServer({ stickyReconnect: "fail-fast" });
      equal((await w.connector.connect(server, { avoid: p })).peerId, q);
      deepEqual(w.dialer.dials, [[aDirectAddress(q)]]);
    },
  );

  await t.step("when nothing else is offered, the lost exit becomes a last resort", async () => {
    const w = world({
      directory: new FakeDirectory().queueFind([], [aPeerRecord(p)]),
      dialer: FakeDialer.reaching(p),
    });
    const server = aServer({ stickyReconnect: "fail-fast" });
    deepEqual(await w.connector.connect(server, { avoid: p }), {
      peerId: p,
      source: { kind: "discovered" },
    });
    deepEqual(w.directory.findCalls.map((call) => call.exclude), [[p], []]);
  });
});

Deno.test("pinned peers", async (t) => {
  await t.step("rank 0 wins when reachable", async () => {
    const server = aServer({ pinned: pinnedTo(p, q) });
    const w = world({
      directory: new FakeDirectory().setRoutes({ [p]: [aDirectAddress(p)] }),
      dialer: FakeDialer.reaching(p, q),
    });
    deepEqual(await w.connector.connect(server), {
      peerId: p,
      source: { kind: "pinned", rank: 0 },
    });
    deepEqual(w.directory.resolveCalls, [[p, q]], "all pinned ids resolved at once");
    deepEqual(w.events.ofType("pinned-statuses"), [{
      type: "pinned-statuses",
      port: PORT,
      statuses: [{ peerId: p, rank: 0, resolvable: true }, {
        peerId: q,
        rank: 1,
        resolvable: false,
      }],
    }]);
    deepEqual(w.directory.findCalls, []);
    deepEqual(w.sticky.ports(), [], "pinned exits are not put in the pool");
  });

  await t.step("fails over to rank 1 in rank order", async () => {
    const server = aServer({ pinned: pinnedTo(p, q) });
    const w = world({
      directory: new FakeDirectory().setRoutes({
        [p]: [aDirectAddress(p)],
        [q]: [aDirectAddress(q)],
      }),
      dialer: FakeDialer.reaching(q),
    });
    deepEqual(await w.connector.connect(server), {
      peerId: q,
      source: { kind: "pinned", rank: 1 },
    });
    deepEqual(w.dialer.dials, [[aDirectAddress(p)], [aDirectAddress(q)]]);
  });

  await t.step("prefers a lower rank that is already connected", async () => {
    const server = aServer({ pinned: pinnedTo(p, q) });
    const w = world({
      directory: new FakeDirectory().setRoutes({ [q]: [aDirectAddress(q)] }),
      dialer: FakeDialer.reaching(q),
    });
    w.dialer.connect(p, aDirectAddress(p)); // e.g. it dialled in, or a late dial landed
    deepEqual(await w.connector.connect(server), {
      peerId: p,
      source: { kind: "pinned", rank: 0 },
    });
  });

  await t.step("dials the verbatim multiaddr together with the hub's routes", async () => {
    const verbatim = asMultiaddr(`/ip4/192.0.2.10/tcp/31515/p2p/${p}`);
    const server = aServer({ pinned: [{ peerId: p, address: verbatim }] });
    const w = world({
      directory: new FakeDirectory().setRoutes({ [p]: [aDirectAddress(p)] }),
      dialer: FakeDialer.reachingAddresses(verbatim),
    });
    deepEqual(await w.connector.connect(server), {
      peerId: p,
      source: { kind: "pinned", rank: 0 },
    });
    deepEqual(w.dialer.dials, [[aDirectAddress(p), verbatim]]);
  });

  await t.step("a hub without resolve reaches pinned peers through circuits", async () => {
    const server = aServer({ pinned: pinnedTo(p) });
    const w = world({
      directory: new FakeDirectory().resolveUnsupported(),
      dialer: FakeDialer.reaching(p),
    });
    deepEqual(await w.connector.connect(server), {
      peerId: p,
      source: { kind: "pinned", rank: 0 },
    });
    deepEqual(w.dialer.dials, [[circuitTo(p)]]);
  });

  await t.step("a hard pin gives up after 20 passes and never discovers", async () => {
    const server = aServer({ pinned: pinnedTo(p), fallbackToDiscovery: false });
    const w = world({ directory: new FakeDirectory().queueFind([aPeerRecord(q)]) });
    const error = await connectError(w.connector.connect(server), "pinned-exhausted");
    ok(error.message.includes(p), error.message);
    equal(w.directory.resolveCalls.length, MAX_PINNED_PASSES);
    deepEqual(w.clock.sleeps, repeat(PINNED_PASS_INTERVAL_MS, MAX_PINNED_PASSES - 1));
    equal(w.events.ofType("pinned-statuses").length, MAX_PINNED_PASSES);
    deepEqual(w.directory.findCalls, [], "the egress never silently changes");
    deepEqual(w.events.errors(), [error.message]);
  });

  await t.step("a pinned peer that shows up on a later pass is taken", async () => {
    const server = aServer({ pinned: pinnedTo(p) });
    const w = world({
      directory: new FakeDirectory().queueResolve(new Map(), new Map()).setRoutes({
        [p]: [aDirectAddress(p)],
      }),
      dialer: FakeDialer.reaching(p),
    });
    deepEqual(await w.connector.connect(server), {
      peerId: p,
      source: { kind: "pinned", rank: 0 },
    });
    deepEqual(w.clock.sleeps, [PINNED_PASS_INTERVAL_MS, PINNED_PASS_INTERVAL_MS]);
  });

  await t.step("with fallback_to_discovery, a failed pass hands over to discovery", async () => {
    const server = aServer({ pinned: pinnedTo(p), fallbackToDiscovery: true });
    const w = world({
      directory: new FakeDirectory().queueFind([aPeerRecord(q)]),
      dialer: FakeDialer.reaching(q),
    });
    deepEqual(await w.connector.connect(server), { peerId: q, source: { kind: "discovered" } });
    equal(w.directory.resolveCalls.length, 1);
    deepEqual(w.clock.sleeps, []);
    deepEqual(w.sticky.pool(PORT, fingerprint(server)), [q]);
  });

  await t.step("a pinned server ignores avoid: rank 0 is retried first", async () => {
    const server = aServer({ pinned: pinnedTo(p, q) });
    const w = world({
      directory: new FakeDirectory().setRoutes({
        [p]: [aDirectAddress(p)],
        [q]: [aDirectAddress(q)],
      }),
      dialer: FakeDialer.reaching(p, q),
    });
    deepEqual(await w.connector.connect(server, { avoid: p }), {
      peerId: p,
      source: { kind: "pinned", rank: 0 },
    });
  });
});

Deno.test("manual selection and direct preference", async (t) => {
  await t.step("selectPeer reaches the chosen peer and adopts it as manual", async () => {
    const w = world({
      directory: new FakeDirectory().setRoutes({ [q]: [aDirectAddress(q)] }),
      dialer: FakeDialer.reaching(q),
      sticky: remembering(p),
    });
    deepEqual(await w.connector.selectPeer(aServer(), q), {
      peerId: q,
      source: { kind: "manual" },
    });
    deepEqual(w.sticky.pool(PORT, fingerprint()), [q, p]);
    deepEqual(w.events.ofType("sticky-pool").at(-1)?.peers.map((peer) => peer.peerId), [q, p]);
    deepEqual(w.directory.findCalls, [], "no discovery");
  });

  await t.step("selectPeer leaves everything unchanged when the peer is unreachable", async () => {
    const w = world({ sticky: remembering(p) });
    equal(await w.connector.selectPeer(aServer(), q), undefined);
    deepEqual(w.sticky.pool(PORT, fingerprint()), [p]);
    equal(w.events.errors().length, 1);
    ok(w.events.errors()[0]?.includes(q));
    deepEqual(w.dialer.dials, [[circuitTo(q)]]);
  });

  await t.step("reachSpecificPeer answers the peer or undefined", async () => {
    const w = world({ dialer: FakeDialer.reaching(p) });
    equal(await w.connector.reachSpecificPeer(aServer(), p), p);
    equal(await w.connector.reachSpecificPeer(aServer(), q), undefined);
  });

  const relayedActive: DirectSwitchInput = {
    active: p,
    activeSource: { kind: "discovered" },
    activeRoute: { address: circuitTo(p), relayed: true },
    candidate: q,
    candidateRoute: { address: aDirectAddress(q), relayed: false },
    pool: [p, q],
  };

  await t.step(
    "shouldPreferDirect: a pool member connecting directly replaces a relayed exit",
    () => {
      equal(shouldPreferDirect(relayedActive), true);
      equal(shouldPreferDirect({ ...relayedActive, activeSource: { kind: "sticky" } }), true);
      equal(shouldPreferDirect({ ...relayedActive, activeRoute: undefined }), true);
    },
  );

  await t.step("shouldPreferDirect: no switch in every other case", () => {
    const cases: [string, Partial<DirectSwitchInput>][] = [
      ["no active exit", { active: undefined }],
      ["the candidate is the active exit", { candidate: p }],
      ["the new connection is relayed", {
        candidateRoute: { address: circuitTo(q), relayed: true },
      }],
      ["the active exit is direct", {
        activeRoute: { address: aDirectAddress(p), relayed: false },
      }],
      ["the candidate is not in the pool", { pool: [p] }],
      ["the active exit is pinned", { activeSource: { kind: "pinned", rank: 0 } }],
      ["the active exit was chosen by hand", { activeSource: { kind: "manual" } }],
    ];
    for (const [name, change] of cases) {
      equal(shouldPreferDirect({ ...relayedActive, ...change }), false, name);
    }
  });

  await t.step("adopt makes the direct peer the sticky front", () => {
    const w = world({ sticky: remembering(p, q) });
    deepEqual(w.connector.adopt(aServer(), q, { kind: "sticky" }), {
      peerId: q,
      source: { kind: "sticky" },
    });
    deepEqual(w.sticky.pool(PORT, fingerprint()), [q, p]);
    equal(w.events.ofType("sticky-pool").length, 1);
  });

  await t.step("markUnusable forgets an exit from every pool", () => {
    const sticky = remembering(p, q);
    sticky.remember(1081, "other", p, 30, 0);
    sticky.remember(1082, "other", q, 30, 0);
    const w = world({ sticky });
    deepEqual(w.connector.markUnusable(p), [1080, 1081]);
    deepEqual(w.sticky.ports(), [1080, 1082]);
    deepEqual(w.events.ofType("sticky-pool").map((event) => event.port), [1080, 1081]);
  });
});

Deno.test("cancellation", async (t) => {
  await t.step("an aborted signal stops before any call", async () => {
    const w = world();
    const controller = new AbortController();
    controller.abort();
    await connectError(w.connector.connect(aServer(), { signal: controller.signal }), "aborted");
    deepEqual(w.directory.findCalls, []);
  });

  await t.step("an abort during a pause stops the connect", async () => {
    const w = world();
    const controller = new AbortController();
    w.clock.onSleep = () => controller.abort();
    const error = await connectError(
      w.connector.connect(aServer(), { signal: controller.signal }),
      "aborted",
    );
    equal(error.port, PORT);
    equal(w.directory.findCalls.length, 1);
    deepEqual(w.events.errors(), [], "cancelling is not an error worth showing");
  });

  await t.step("an abort during a dial stops the connect", async () => {
    const controller = new AbortController();
    const w = world({ sticky: remembering(p, q) });
    w.dialer.onDial = () => {
      controller.abort();
      return Promise.reject(new DialError("none-connected", "Cancelled."));
    };
    await connectError(w.connector.connect(aServer(), { signal: controller.signal }), "aborted");
    equal(w.dialer.dialCount, 1);
    deepEqual(w.sticky.pool(PORT, fingerprint()), [p, q], "an aborted walk forgets nobody");
  });

  await t.step("a shutting-down node stops the connect", async () => {
    const w = world({ directory: new FakeDirectory().queueFind([aPeerRecord(p)]) });
    w.dialer.shuttingDown = true;
    await connectError(w.connector.connect(aServer()), "aborted");
    equal(w.directory.findCalls.length, 1);
  });
});

Deno.test("background retry", async (t) => {
  await t.step("retries forever on the 1 s ×2 up to 30 s schedule", async () => {
    const clock = new FakeClock();
    const failures: [number, number][] = [];
    const attempts: number[] = [];
    const exit = await retryForever(
      (attempt) => {
        attempts.push(attempt);
        if (attempt < 7) {
          return Promise.reject(new ExitConnectError("discovery-exhausted", "Nothing yet."));
        }
        return Promise.resolve(p);
      },
      { clock, onFailure: (_error, delayMs, attempt) => failures.push([attempt, delayMs]) },
    );
    equal(exit, p);
    deepEqual(attempts, [0, 1, 2, 3, 4, 5, 6, 7]);
    deepEqual(clock.sleeps, [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
    deepEqual(failures.map(([, delay]) => delay), clock.sleeps);
  });

  await t.step("drives the connector: avoid on the first try only", async () => {
    const w = world({
      directory: new FakeDirectory().queueFind(
        ...repeat([], MAX_DISCOVERY_ATTEMPTS),
        [aPeerRecord(q)],
      ),
      dialer: FakeDialer.reaching(q),
    });
    const server = aServer({ stickyReconnect: "fail-fast" });
    const destination = await retryForever(
      (attempt) => w.connector.connect(server, { avoid: attempt === 0 ? p : undefined }),
      { clock: w.clock, backoff: new Backoff(1_000, 2, 30_000) },
    );
    equal(destination.peerId, q);
    equal(w.directory.findCalls.length, MAX_DISCOVERY_ATTEMPTS + 1);
    deepEqual(w.directory.findCalls.at(-1)?.exclude, []);
    deepEqual(w.clock.sleeps, [...repeat(1_000, MAX_DISCOVERY_ATTEMPTS - 1), 1_000]);
    equal(w.events.errors().length, 1);
  });

  await t.step("an abort ends the retries", async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    clock.onSleep = (ms) => {
      if (ms >= 4_000) controller.abort();
    };
    let calls = 0;
    await connectError(
      retryForever(() => {
        calls++;
        return Promise.reject(new Error("Hub down."));
      }, { clock, signal: controller.signal }),
      "aborted",
    );
    equal(calls, 3);
    deepEqual(clock.sleeps, [1_000, 2_000, 4_000]);
  });

  await t.step("an aborted connect is not retried", async () => {
    let calls = 0;
    await connectError(
      retryForever(() => {
        calls++;
        return Promise.reject(new ExitConnectError("aborted", "Stopped."));
      }, { clock: new FakeClock() }),
      "aborted",
    );
    equal(calls, 1);
  });
});

Deno.test("just-in-time waiters share one discovery", async () => {
  const w = world({
    directory: new FakeDirectory().queueFind([aPeerRecord(p)], [aPeerRecord(q)]),
    dialer: FakeDialer.reaching(p, q),
  });
  const flights = new SingleFlight<number, { peerId: PeerId }>();
  const waiters = Array.from(
    { length: 20 },
    () => flights.run(PORT, () => w.connector.connect(aServer())),
  );
  const exits = await Promise.all(waiters);
  deepEqual(exits.map((exit) => exit.peerId), repeat(p, 20));
  equal(w.directory.findCalls.length, 1, "one discovery for 20 waiters");
  equal(w.dialer.dialCount, 1);
  equal(flights.has(PORT), false);
});

Deno.test("pure helpers", async (t) => {
  await t.step("pinnedCandidateRoutes unions hub routes and the verbatim address", () => {
    const verbatim = asMultiaddr(`/ip4/192.0.2.10/tcp/31515/p2p/${p}`);
    const resolved = new Map([[p, [circuitTo(p), verbatim]]]);
    deepEqual(pinnedCandidateRoutes({ peerId: p, address: verbatim }, resolved), [
      circuitTo(p),
      verbatim,
    ]);
    deepEqual(pinnedCandidateRoutes({ peerId: q }, resolved), [], "an unresolved bare id");
    deepEqual(pinnedCandidateRoutes({ peerId: q, address: verbatim }, new Map()), [verbatim]);
  });

  await t.step(
    "discoveryRoutes deduplicates and synthesises circuits for route-less candidates",
    () => {
      const shared = aDirectAddress(p);
      deepEqual(
        discoveryRoutes(
          [aPeerRecord(p, [shared]), aPeerRecord(p, [shared]), aPeerRecord(q, [])],
          relayAddress,
        ),
        [shared, circuitTo(q)],
      );
      deepEqual(discoveryRoutes([aPeerRecord(q, [])], undefined), []);
    },
  );
});

Deno.test("connect: exits that do not speak the connect protocol are never chosen", async (t) => {
  const [p, q] = [aPeerId(1), aPeerId(2)];
  const withUnusable = (parts: Partial<Pick<World, "directory" | "dialer" | "sticky">>) => {
    const w = world(parts);
    const connector = new ExitConnector({
      directory: w.directory,
      dialer: w.dialer,
      clock: w.clock,
      events: w.events,
      sticky: w.sticky,
      relayAddress,
      isUnusable: (peer) => peer === p,
    });
    return { ...w, connector };
  };

  await t.step("discovery skips them, even as a last resort", async () => {
    const w = withUnusable({
      directory: new FakeDirectory().queueFind([aPeerRecord(p)], [aPeerRecord(p), aPeerRecord(q)]),
      dialer: FakeDialer.reaching(p, q),
    });
    equal((await w.connector.connect(aServer())).peerId, q);
    ok(!w.dialer.dialedAddresses.includes(aDirectAddress(p)), "p never dialled");
  });

  await t.step("the sticky pool and a with-backoff reconnect skip them", async () => {
    const w = withUnusable({
      sticky: remembering(p, q),
      dialer: FakeDialer.reaching(p, q),
    });
    const result = await w.connector.connect(aServer({ stickyReconnect: "with-backoff" }), {
      avoid: p,
    });
    deepEqual(result, { peerId: q, source: { kind: "sticky" } });
    ok(!w.dialer.dialedAddresses.includes(aDirectAddress(p)), "p never dialled");
    deepEqual(w.clock.sleeps, [], "no backoff spent on an unusable exit");
  });

  await t.step(
    "a pinned rank that is unusable is passed over for the next, even connected",
    async () => {
      const w = withUnusable({ dialer: FakeDialer.reaching(p, q) });
      w.dialer.connect(p, aDirectAddress(p));
      const server = aServer({
        pinned: [{ peerId: p, address: aDirectAddress(p) }, {
          peerId: q,
          address: aDirectAddress(q),
        }],
      });
      deepEqual(await w.connector.connect(server), {
        peerId: q,
        source: { kind: "pinned", rank: 1 },
      });
    },
  );
});
