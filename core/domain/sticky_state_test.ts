import { deepEqual, equal, ok } from "node:assert/strict";
import fc from "fast-check";
import { asMultiaddr, type Multiaddr, type PeerId } from "../ids.ts";
import { STICKY_RECORD_VERSION } from "../ports/sticky_store.ts";
import { aCircuitAddress, aDirectAddress, aPeerId } from "../testing/builders.ts";
import { StickyState } from "./sticky_state.ts";

const T0 = 1_700_000_000_000;
const [a, b, c, d] = [aPeerId(1), aPeerId(2), aPeerId(3), aPeerId(4)] as [
  PeerId,
  PeerId,
  PeerId,
  PeerId,
];

Deno.test("StickyState examples", async (t) => {
  await t.step("an unknown port has an empty pool", () => {
    deepEqual(new StickyState().pool(1080, "fp"), []);
  });

  await t.step("remember keeps the most recent first and caps the pool", () => {
    const state = new StickyState();
    for (const peer of [a, b, c, d]) state.remember(1080, "fp", peer, 3, T0);
    deepEqual(state.pool(1080, "fp"), [d, c, b]);
  });

  await t.step("remembering again promotes without duplicating and reports a new front", () => {
    const state = new StickyState();
    equal(state.remember(1080, "fp", a, 5, T0), true);
    equal(state.remember(1080, "fp", b, 5, T0), true);
    equal(state.remember(1080, "fp", a, 5, T0 + 1), true);
    deepEqual(state.pool(1080, "fp"), [a, b]);
    equal(state.remember(1080, "fp", a, 5, T0 + 2), false);
    equal(state.entries(1080)[0]?.updatedAt, T0 + 2);
  });

  await t.step("a max below 1 still keeps the peer just remembered", () => {
    const state = new StickyState();
    state.remember(1080, "fp", a, 0, T0);
    state.remember(1080, "fp", b, 0, T0);
    deepEqual(state.pool(1080, "fp"), [b]);
  });

  await t.step("another fingerprint drops the whole pool for good", () => {
    const state = new StickyState();
    state.remember(1080, "fp-NL", a, 5, T0);
    deepEqual(state.pool(1080, "fp-RU"), []);
    deepEqual(state.pool(1080, "fp-NL"), [], "the invalidation sticks");
  });

  await t.step("remember under a new fingerprint starts the pool over", () => {
    const state = new StickyState();
    state.remember(1080, "fp-NL", a, 5, T0);
    state.remember(1080, "fp-DE", b, 5, T0);
    deepEqual(state.pool(1080, "fp-DE"), [b]);
  });

  await t.step("pools of different ports are independent", () => {
    const state = new StickyState();
    state.remember(1080, "fp", a, 5, T0);
    state.remember(1081, "fp", b, 5, T0);
    deepEqual(state.pool(1080, "fp"), [a]);
    deepEqual(state.pool(1081, "fp"), [b]);
  });

  await t.step("forgetPeer removes one and keeps the rest", () => {
    const state = new StickyState();
    state.remember(1080, "fp", a, 5, T0);
    state.remember(1080, "fp", b, 5, T0);
    equal(state.forgetPeer(1080, b), true);
    equal(state.forgetPeer(1080, b), false);
    deepEqual(state.pool(1080, "fp"), [a]);
  });

  await t.step("forgetEverywhere removes the peer from every pool", () => {
    const state = new StickyState();
    state.remember(1080, "fp", a, 5, T0);
    state.remember(1081, "fp", a, 5, T0);
    state.remember(1081, "fp", b, 5, T0);
    state.remember(1082, "fp", b, 5, T0);
    deepEqual(state.forgetEverywhere(a), [1080, 1081]);
    deepEqual(state.ports(), [1081, 1082]);
    deepEqual(state.pool(1081, "fp"), [b]);
  });

  await t.step("noteDirectAddress updates members but never adds a peer", () => {
    const state = new StickyState();
    const hub = aPeerId(99);
    state.remember(1080, "fp", a, 5, T0);
    equal(state.noteDirectAddress(a, aDirectAddress(a), T0 + 5), true);
    equal(state.directAddress(1080, a), aDirectAddress(a));
    equal(state.entries(1080)[0]?.updatedAt, T0 + 5);
    equal(state.noteDirectAddress(a, aDirectAddress(a), T0 + 6), false, "same address: no change");
    equal(state.noteDirectAddress(hub, aDirectAddress(hub), T0), false);
    deepEqual(state.pool(1080, "fp"), [a], "a non-exit is never added");
  });

  await t.step("a relay circuit is not a direct address", () => {
    const state = new StickyState();
    state.remember(1080, "fp", a, 5, T0);
    equal(state.noteDirectAddress(a, aCircuitAddress(a), T0), false);
    equal(state.directAddress(1080, a), undefined);
  });

  await t.step("remember keeps a known direct address", () => {
    const state = new StickyState();
    state.remember(1080, "fp", a, 5, T0);
    state.noteDirectAddress(a, aDirectAddress(a), T0);
    state.remember(1080, "fp", b, 5, T0);
    state.remember(1080, "fp", a, 5, T0);
    equal(state.directAddress(1080, a), aDirectAddress(a));
  });

  await t.step("snapshot lists members with their direct address and never invalidates", () => {
    const state = new StickyState();
    state.remember(1080, "fp", a, 5, T0);
    state.remember(1080, "fp", b, 5, T0);
    state.noteDirectAddress(a, aDirectAddress(a), T0);
    const expected = [{ peerId: b, addresses: [] }, { peerId: a, addresses: [aDirectAddress(a)] }];
    deepEqual(state.snapshot(1080), expected);
    deepEqual(state.snapshot(1080, "other"), []);
    deepEqual(
      state.snapshot(1080, "fp"),
      expected,
      "a snapshot with another fingerprint keeps the pool",
    );
  });

  await t.step("dirty follows changes and markClean", () => {
    const state = new StickyState();
    equal(state.dirty, false);
    state.remember(1080, "fp", a, 5, T0);
    equal(state.dirty, true);
    const saved = state.revision;
    state.remember(1080, "fp", b, 5, T0);
    state.markClean(saved);
    equal(state.dirty, true, "a change made during the save keeps it dirty");
    state.markClean();
    equal(state.dirty, false);
    state.pool(1080, "fp");
    state.directAddress(1080, a);
    state.snapshot(1080);
    equal(state.dirty, false, "reads are not changes");
    state.forgetPeer(1080, c);
    equal(state.dirty, false, "forgetting a stranger is not a change");
    state.pool(1080, "new-fp");
    equal(state.dirty, true, "an invalidated pool must be saved");
  });
});

Deno.test("StickyState records", async (t) => {
  await t.step("toRecord writes the file format", () => {
    const state = new StickyState();
    state.remember(1081, "fp1", a, 5, T0);
    state.remember(1080, "fp0", b, 5, T0 + 1);
    state.noteDirectAddress(b, aDirectAddress(b), T0 + 2);
    deepEqual(state.toRecord(), {
      version: STICKY_RECORD_VERSION,
      servers: {
        "1080": {
          fingerprint: "fp0",
          peers: [{ peer_id: b, address: aDirectAddress(b), updated_at: T0 + 2 }],
        },
        "1081": { fingerprint: "fp1", peers: [{ peer_id: a, address: null, updated_at: T0 }] },
      },
    });
  });

  await t.step("fromRecord reads it back, clean", () => {
    const state = new StickyState();
    state.remember(1080, "fp", a, 5, T0);
    state.remember(1080, "fp", b, 5, T0);
    state.noteDirectAddress(a, aDirectAddress(a), T0);
    const copy = StickyState.fromRecord(JSON.parse(JSON.stringify(state.toRecord())));
    deepEqual(copy.toRecord(), state.toRecord());
    equal(copy.dirty, false);
    equal(copy.directAddress(1080, a), aDirectAddress(a));
  });

  await t.step("fromRecord skips bad entries and keeps good ones", () => {
    const good = { peer_id: a, address: aDirectAddress(a), updated_at: T0 };
    const state = StickyState.fromRecord({
      version: STICKY_RECORD_VERSION,
      servers: {
        "1080": {
          fingerprint: "fp",
          peers: [
            good,
            { peer_id: "", address: null, updated_at: T0 },
            { peer_id: 42 },
            "nonsense",
            null,
            { ...good, address: "/ip4/1.2.3.4/tcp/1" },
            { peer_id: b, address: 7, updated_at: "yesterday" },
            { peer_id: c, address: aCircuitAddress(c), updated_at: T0 },
          ],
        },
        "not-a-port": { fingerprint: "fp", peers: [good] },
        "70000": { fingerprint: "fp", peers: [good] },
        "0": { fingerprint: "fp", peers: [good] },
        "1081": { fingerprint: 3, peers: [good] },
        "1082": { fingerprint: "fp", peers: "many" },
        "1083": { fingerprint: "fp", peers: [] },
        "1084": null,
      },
    });
    deepEqual(state.ports(), [1080]);
    deepEqual(state.entries(1080), [
      { peerId: a, address: aDirectAddress(a), updatedAt: T0 },
      { peerId: b, updatedAt: 0 },
      { peerId: c, updatedAt: T0 },
    ]);
  });

  await t.step("fromRecord starts empty on another version or a non-record", () => {
    for (const record of [null, 3, "text", [], {}, { version: 2, servers: {} }, { version: 1 }]) {
      deepEqual(StickyState.fromRecord(record).ports(), [], JSON.stringify(record));
    }
  });
});

type Op =
  | { kind: "remember"; port: number; fingerprint: string; peer: PeerId; now: number }
  | { kind: "pool"; port: number; fingerprint: string }
  | { kind: "note"; peer: PeerId; address: Multiaddr; now: number }
  | { kind: "forget"; port: number; peer: PeerId }
  | { kind: "forgetEverywhere"; peer: PeerId };

const peers = Array.from({ length: 6 }, (_, n) => aPeerId(n));
const arbPeer = fc.constantFrom(...peers);
const arbPort = fc.constantFrom(1080, 1081, 1082);
const arbFingerprint = fc.constantFrom("fp-a", "fp-b");
const arbNow = fc.integer({ min: T0, max: T0 + 1_000_000 });
const arbAddress = fc.oneof(
  fc.tuple(arbPeer, fc.integer({ min: 1, max: 3 })).map(([peer, n]) => aDirectAddress(peer, n)),
  fc.integer({ min: 1, max: 3 }).map((n) => asMultiaddr(`/ip4/203.0.113.${n}/tcp/4001`)),
  arbPeer.map((peer) => aCircuitAddress(peer)),
);
const arbOp: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("remember" as const),
    port: arbPort,
    fingerprint: arbFingerprint,
    peer: arbPeer,
    now: arbNow,
  }),
  fc.record({ kind: fc.constant("pool" as const), port: arbPort, fingerprint: arbFingerprint }),
  fc.record({
    kind: fc.constant("note" as const),
    peer: arbPeer,
    address: arbAddress,
    now: arbNow,
  }),
  fc.record({ kind: fc.constant("forget" as const), port: arbPort, peer: arbPeer }),
  fc.record({ kind: fc.constant("forgetEverywhere" as const), peer: arbPeer }),
);

function allMembers(state: StickyState): Set<PeerId> {
  return new Set(state.ports().flatMap((port) => state.entries(port).map((e) => e.peerId)));
}

function apply(state: StickyState, op: Op, max: number): void {
  switch (op.kind) {
    case "remember": {
      state.remember(op.port, op.fingerprint, op.peer, max, op.now);
      equal(state.pool(op.port, op.fingerprint)[0], op.peer, "the remembered peer is first");
      return;
    }
    case "pool":
      state.pool(op.port, op.fingerprint);
      return;
    case "note": {
      const before = allMembers(state);
      state.noteDirectAddress(op.peer, op.address, op.now);
      deepEqual(allMembers(state), before, "noteDirectAddress never adds or removes a peer");
      return;
    }
    case "forget":
      state.forgetPeer(op.port, op.peer);
      equal(state.entries(op.port).some((e) => e.peerId === op.peer), false);
      return;
    case "forgetEverywhere":
      state.forgetEverywhere(op.peer);
      equal(allMembers(state).has(op.peer), false);
      return;
  }
}

/** A plain model of the pools: port → fingerprint and MRU ids. */
function model(
  ops: readonly Op[],
  max: number,
): Map<number, { fingerprint: string; ids: PeerId[] }> {
  const pools = new Map<number, { fingerprint: string; ids: PeerId[] }>();
  for (const op of ops) {
    if (op.kind === "remember") {
      const pool = pools.get(op.port);
      const ids = pool?.fingerprint === op.fingerprint ? pool.ids : [];
      pools.set(op.port, {
        fingerprint: op.fingerprint,
        ids: [op.peer, ...ids.filter((id) => id !== op.peer)].slice(0, max),
      });
    } else if (op.kind === "pool") {
      if (pools.get(op.port)?.fingerprint !== op.fingerprint) pools.delete(op.port);
    } else if (op.kind === "forget" || op.kind === "forgetEverywhere") {
      for (const [port, pool] of pools) {
        if (op.kind === "forget" && port !== op.port) continue;
        pool.ids = pool.ids.filter((id) => id !== op.peer);
        if (pool.ids.length === 0) pools.delete(port);
      }
    }
  }
  return pools;
}

Deno.test("StickyState properties over random operation sequences", async (t) => {
  const arbRun = fc.tuple(fc.integer({ min: 1, max: 4 }), fc.array(arbOp, { maxLength: 60 }));

  await t.step("never over max, no duplicates, MRU order as modelled", () => {
    fc.assert(
      fc.property(arbRun, ([max, ops]) => {
        const state = new StickyState();
        for (const op of ops) {
          apply(state, op, max);
          for (const port of state.ports()) {
            const ids = state.entries(port).map((e) => e.peerId);
            ok(ids.length <= max, `pool of ${port} has ${ids.length} > ${max} peers`);
            equal(new Set(ids).size, ids.length, "no duplicates");
          }
        }
        const expected = model(ops, max);
        deepEqual(state.ports(), [...expected.keys()].sort((x, y) => x - y));
        for (const [port, pool] of expected) {
          deepEqual(state.entries(port).map((e) => e.peerId), pool.ids);
          deepEqual(state.pool(port, pool.fingerprint), pool.ids);
        }
      }),
    );
  });

  await t.step("direct addresses are never circuits", () => {
    fc.assert(
      fc.property(arbRun, ([max, ops]) => {
        const state = new StickyState();
        for (const op of ops) apply(state, op, max);
        for (const port of state.ports()) {
          for (const entry of state.entries(port)) {
            equal(entry.address?.includes("/p2p-circuit") ?? false, false);
          }
        }
      }),
    );
  });

  await t.step("the record round-trips through JSON", () => {
    fc.assert(
      fc.property(arbRun, ([max, ops]) => {
        const state = new StickyState();
        for (const op of ops) apply(state, op, max);
        const record = state.toRecord();
        const copy = StickyState.fromRecord(JSON.parse(JSON.stringify(record)));
        deepEqual(copy.toRecord(), record);
        for (const port of state.ports()) deepEqual(copy.entries(port), state.entries(port));
      }),
    );
  });
});
