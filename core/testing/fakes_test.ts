import { deepEqual, equal, notEqual, ok, rejects } from "node:assert/strict";
import { DialError } from "../ports/dialer.ts";
import { DirectoryError } from "../ports/peer_directory.ts";
import {
  emptyStickyRecord,
  STICKY_RECORD_VERSION,
  type StickyRecord,
} from "../ports/sticky_store.ts";
import { NO_FILTERS } from "../domain/attributes.ts";
import {
  aCircuitAddress,
  aDirectAddress,
  aPeerId,
  aPeerRecord,
  aRelayPeerId,
  aServer,
  pinnedTo,
  someAttributes,
} from "./builders.ts";
import {
  FAKE_CLOCK_START_MS,
  FakeClock,
  FakeDialer,
  FakeDirectory,
  MemoryStickyStore,
  RecordingSink,
} from "./fakes.ts";

const [p, q] = [aPeerId(1), aPeerId(2)];

Deno.test("builders", async (t) => {
  await t.step("peer ids are deterministic, distinct and shaped like Ed25519 ids", () => {
    equal(aPeerId(5), aPeerId(5));
    const ids = new Set(Array.from({ length: 200 }, (_, n) => aPeerId(n)));
    equal(ids.size, 200);
    for (const id of ids) ok(/^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/.test(id), id);
    ok(!ids.has(aRelayPeerId()));
  });

  await t.step("servers and records have useful defaults", () => {
    deepEqual(aServer({ pinned: pinnedTo(p) }).pinned, [{ peerId: p }]);
    equal(aServer().filters, NO_FILTERS);
    deepEqual(aPeerRecord(p).routes, [aDirectAddress(p)]);
  });
});

Deno.test("FakeClock", async (t) => {
  await t.step("time moves only by sleeps, which are recorded", async () => {
    const clock = new FakeClock();
    equal(clock.now(), FAKE_CLOCK_START_MS);
    await clock.sleep(1_000);
    await clock.sleep(2_000);
    deepEqual(clock.sleeps, [1_000, 2_000]);
    equal(clock.now(), FAKE_CLOCK_START_MS + 3_000);
    equal(clock.sleptMs, 3_000);
  });

  await t.step("an aborted signal rejects the sleep with its reason", async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    controller.abort(new Error("stop"));
    await rejects(clock.sleep(10, controller.signal), /stop/);
    deepEqual(clock.sleeps, []);
  });

  await t.step("onSleep can abort the sleep in progress", async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    clock.onSleep = () => controller.abort(new Error("mid-sleep"));
    await rejects(clock.sleep(10, controller.signal), /mid-sleep/);
    deepEqual(clock.sleeps, [10]);
  });

  await t.step(
    "timers run as advance or a sleep moves time past them, each at its deadline",
    async () => {
      const clock = new FakeClock();
      const ran: [string, number][] = [];
      const at = (name: string) => () => ran.push([name, clock.now() - FAKE_CLOCK_START_MS]);
      clock.setTimer(300, at("late"));
      clock.setTimer(100, at("early"));
      const cancelled = clock.setTimer(200, at("cancelled"));
      deepEqual(clock.pendingTimers, [100, 200, 300]);
      cancelled.cancel();
      clock.advance(99);
      deepEqual(ran, [], "not a millisecond early");
      clock.advance(1);
      deepEqual(ran, [["early", 100]]);
      await clock.sleep(500);
      deepEqual(ran, [["early", 100], ["late", 300]], "a sleep runs the timers it passes");
      equal(clock.now(), FAKE_CLOCK_START_MS + 600);
      deepEqual(clock.pendingTimers, []);
    },
  );

  await t.step("a timer that sets itself again runs once per period of an advance", () => {
    const clock = new FakeClock();
    const ticks: number[] = [];
    const tick = () => {
      ticks.push(clock.now() - FAKE_CLOCK_START_MS);
      clock.setTimer(15, tick);
    };
    clock.setTimer(15, tick);
    clock.advance(50);
    deepEqual(ticks, [15, 30, 45]);
    deepEqual(clock.pendingTimers, [10]);
  });

  await t.step("a timer of 0 ms waits for time to move by 1 ms", () => {
    const clock = new FakeClock();
    let ran = 0;
    clock.setTimer(0, () => ran++);
    clock.advance(0);
    equal(ran, 0);
    clock.advance(1);
    equal(ran, 1);
  });
});

Deno.test("FakeDirectory", async (t) => {
  const query = { filters: NO_FILTERS, limit: 25, exclude: [] };

  await t.step("answers queued results and errors in order, then nothing", async () => {
    const directory = new FakeDirectory().queueFind(
      [aPeerRecord(p)],
      new DirectoryError("timeout", "Slow."),
    );
    deepEqual(await directory.findNodes(query), [aPeerRecord(p)]);
    await rejects(directory.findNodes(query), DirectoryError);
    deepEqual(await directory.findNodes(query), []);
    equal(directory.findCalls.length, 3);
  });

  await t.step("honours limit and exclude like the hub", async () => {
    const directory = new FakeDirectory().queueFind([aPeerRecord(p), aPeerRecord(q)]);
    deepEqual(await directory.findNodes({ ...query, exclude: [p] }), [aPeerRecord(q)]);
    directory.queueFind([aPeerRecord(p), aPeerRecord(q)]);
    deepEqual(await directory.findNodes({ ...query, limit: 1 }), [aPeerRecord(p)]);
  });

  await t.step("resolves only the asked ids", async () => {
    const directory = new FakeDirectory().setRoutes({ [p]: [aDirectAddress(p)], [q]: [] });
    deepEqual(await directory.resolvePeers([p]), new Map([[p, [aDirectAddress(p)]]]));
    deepEqual(directory.resolveCalls, [[p]]);
  });

  await t.step("describes the asked ids it knows: routes and attributes", async () => {
    const attributes = someAttributes({ country: "SE" });
    const directory = new FakeDirectory().setRoutes({ [p]: [aDirectAddress(p)] })
      .setAttributes(q, attributes);
    deepEqual(
      await directory.describePeers([p, q, aPeerId(9)]),
      new Map([[p, { peerId: p, routes: [aDirectAddress(p)] }], [q, {
        peerId: q,
        routes: [],
        attributes,
      }]]),
    );
    deepEqual(directory.describeCalls, [[p, q, aPeerId(9)]]);
  });

  await t.step("can play an older hub", async () => {
    const directory = new FakeDirectory().resolveUnsupported();
    await rejects(
      directory.resolvePeers([p]),
      (error: unknown) => error instanceof DirectoryError && error.code === "unsupported",
    );
  });
});

Deno.test("FakeDialer", async (t) => {
  await t.step("connects a reachable peer and records the dial", async () => {
    const dialer = FakeDialer.reaching(q);
    equal(await dialer.dialAny([aDirectAddress(p), aDirectAddress(q)]), q);
    deepEqual(dialer.dials, [[aDirectAddress(p), aDirectAddress(q)]]);
    equal(dialer.isConnected(q), true);
    equal(dialer.isConnected(p), false);
    deepEqual(dialer.connectedRoute(q), { address: aDirectAddress(q), relayed: false });
  });

  await t.step("rejects with none-connected when nothing connects", async () => {
    const dialer = new FakeDialer({ addresses: [aDirectAddress(p, 1)] });
    dialer.deadAddresses.add(aDirectAddress(p, 2));
    await rejects(
      dialer.dialAny([aDirectAddress(p, 2)]),
      (error: unknown) => error instanceof DialError && error.code === "none-connected",
    );
    equal(await dialer.dialAny([aDirectAddress(p, 2), aDirectAddress(p, 1)]), p);
  });

  await t.step("prefers a direct connection over a relayed one and forgets on disconnect", () => {
    const dialer = new FakeDialer();
    dialer.connect(p, aCircuitAddress(p));
    equal(dialer.connectedRoute(p)?.relayed, true);
    dialer.connect(p, aDirectAddress(p));
    equal(dialer.connectedRoute(p)?.relayed, false);
    dialer.disconnect(p);
    equal(dialer.isConnected(p), false);
    equal(dialer.connectedRoute(p), undefined);
  });
});

Deno.test("RecordingSink and MemoryStickyStore", async (t) => {
  await t.step("the sink filters by type", () => {
    const sink = new RecordingSink();
    sink.emit({ type: "error", message: "Boom." });
    sink.emit({ type: "local-peer-id", peerId: p });
    deepEqual(sink.ofType("local-peer-id"), [{ type: "local-peer-id", peerId: p }]);
    deepEqual(sink.errors(), ["Boom."]);
    sink.clear();
    deepEqual(sink.events, []);
  });

  await t.step("the store deep-copies what it loads and saves", async () => {
    const store = new MemoryStickyStore();
    deepEqual(await store.load(), emptyStickyRecord());
    const record: StickyRecord = {
      version: STICKY_RECORD_VERSION,
      servers: {
        "1080": { fingerprint: "fp", peers: [{ peer_id: p, address: null, updated_at: 1 }] },
      },
    };
    await store.save(record);
    const loaded = await store.load();
    deepEqual(loaded, record);
    notEqual(loaded, record);
    notEqual(loaded.servers["1080"], record.servers["1080"]);
    equal(store.saves, 1);
  });
});
