/**
 * Compliance suite of the `StickyStore` port: any store, built-in or
 * third-party, runs it against itself.
 *
 * @example
 * ```ts
 * import { stickyStoreCompliance } from "@p2proxy/p2proxy/testing";
 *
 * Deno.test("RedisStickyStore is a StickyStore", (t) =>
 *   stickyStoreCompliance(t, async () => {
 *     const prefix = crypto.randomUUID();
 *     const store = new RedisStickyStore(prefix);
 *     return {
 *       store,
 *       reopen: () => Promise.resolve(new RedisStickyStore(prefix)),
 *       cleanup: () => dropPrefix(prefix),
 *     };
 *   }));
 * ```
 *
 * @module
 */
import type { TestContext } from "./_test_context.ts";
import assert from "node:assert/strict";
import fc from "fast-check";
import { aDirectAddress, aPeerId } from "../builders.ts";
import {
  emptyStickyRecord,
  emptyStickySessionsRecord,
  STICKY_RECORD_VERSION,
  STICKY_SESSIONS_VERSION,
  type StickyPeerRecord,
  type StickyRecord,
  type StickyServerRecord,
  type StickySessionRecord,
  type StickySessionsRecord,
  type StickyStore,
} from "../../ports/sticky_store.ts";
import { type Awaitable, type Releasable, withFixture } from "./_harness.ts";

/** What a sticky store factory hands the suite. Each call must give a store over fresh, empty storage. */
export interface StickyStoreFixture extends Releasable {
  /** The store under test, over fresh, empty storage. */
  readonly store: StickyStore;
  /**
   * A new store over the same storage, as after a restart. Omit it for a
   * store that does not persist; `cleanup` must also release reopened stores.
   */
  readonly reopen?: () => Promise<StickyStore>;
}

/** Saves fired at once in the concurrency step. */
const CONCURRENT_SAVES = 50;

/** The large-pool step: servers × peers, beyond the default `pool.max_total` of 30 per server. */
const LARGE_SERVER_COUNT = 20;
const LARGE_PEERS_PER_SERVER = 30;

/** Property runs of the arbitrary round-trip; a file store writes once per run. */
const ROUND_TRIP_RUNS = 25;

/** A fixed instant (2023-11-14T22:13:20Z) so records are reproducible. */
const BASE_TIME_MS = 1_700_000_000_000;

/**
 * Runs the `StickyStore` compliance steps: empty on first load; save→load
 * round-trips (examples and arbitrary records); saving an empty record forgets
 * everything; the last of concurrent saves wins; the record survives a reopen
 * (when `reopen` is given); large pools; records are copied both ways, never
 * aliased to the store's state. A store with the optional session methods
 * (`loadSessions`, `saveSessions`) also runs the session steps: empty at first,
 * round-trips, replacement, independence from the pools, reopen, no aliasing.
 */
export async function stickyStoreCompliance(
  t: TestContext,
  make: () => Awaitable<StickyStoreFixture>,
): Promise<void> {
  let persists = false;
  await t.step(
    "loads an empty record the first time",
    () =>
      withFixture(make, async ({ store, reopen }) => {
        persists = reopen !== undefined;
        assert.deepStrictEqual(await store.load(), emptyStickyRecord());
      }),
  );

  await t.step("loads what was saved", () =>
    withFixture(make, async ({ store }) => {
      const record = sampleRecord(1);
      await store.save(record);
      assert.deepStrictEqual(await store.load(), record);
      assert.deepStrictEqual(await store.load(), record, "a second load must agree");
    }));

  await t.step("round-trips arbitrary records", () =>
    withFixture(make, async ({ store }) => {
      await fc.assert(
        fc.asyncProperty(stickyRecordArbitrary(), async (record) => {
          await store.save(record);
          assert.deepStrictEqual(await store.load(), record);
        }),
        { numRuns: ROUND_TRIP_RUNS },
      );
    }));

  await t.step(
    "saving an empty record forgets every server",
    () =>
      withFixture(make, async ({ store }) => {
        await store.save(sampleRecord(3));
        await store.save(emptyStickyRecord());
        assert.deepStrictEqual(await store.load(), emptyStickyRecord());
      }),
  );

  await t.step(
    "a save replaces the whole record (dropped servers stay dropped)",
    () =>
      withFixture(make, async ({ store }) => {
        await store.save(sampleRecord(3));
        const smaller = sampleRecord(1);
        await store.save(smaller);
        assert.deepStrictEqual(await store.load(), smaller);
      }),
  );

  await t.step(
    `the last of ${CONCURRENT_SAVES} concurrent saves wins`,
    () =>
      withFixture(make, async ({ store }) => {
        const records = Array.from(
          { length: CONCURRENT_SAVES },
          (_, i) => sampleRecord(1 + i % 4, i),
        );
        await Promise.all(records.map((record) => store.save(record)));
        assert.deepStrictEqual(await store.load(), records.at(-1));
      }),
  );

  await t.step({
    name: "keeps its record across a reopen",
    ignore: !persists,
    fn: () =>
      withFixture(make, async ({ store, reopen }) => {
        assert.ok(reopen, "the fixture stopped offering reopen()");
        const record = sampleRecord(2);
        await store.save(record);
        const reopened = await reopen();
        assert.deepStrictEqual(await reopened.load(), record);
        const next = sampleRecord(1, 99);
        await reopened.save(next);
        const again = await reopen();
        assert.deepStrictEqual(await again.load(), next);
      }),
  });

  await t.step(
    `holds large pools (${LARGE_SERVER_COUNT} servers × ${LARGE_PEERS_PER_SERVER} peers)`,
    () =>
      withFixture(make, async ({ store }) => {
        const record = sampleRecord(LARGE_SERVER_COUNT, 0, LARGE_PEERS_PER_SERVER);
        await store.save(record);
        assert.deepStrictEqual(await store.load(), record);
      }),
  );

  await t.step(
    "never aliases saved or loaded records to its state",
    () =>
      withFixture(make, async ({ store }) => {
        const saved = sampleRecord(2);
        const expected = sampleRecord(2);
        await store.save(saved);
        vandalise(mutableRecord(saved));
        assert.deepStrictEqual(await store.load(), expected, "mutating a saved record leaked in");
        vandalise(mutableRecord(await store.load()));
        assert.deepStrictEqual(await store.load(), expected, "mutating a loaded record leaked in");
      }),
  );

  await sessionSteps(t, make, persists);
}

/** The steps of the optional session methods; skipped (ignored) for a store without them. */
async function sessionSteps(
  t: TestContext,
  make: () => Awaitable<StickyStoreFixture>,
  persists: boolean,
): Promise<void> {
  let keepsSessions = false;
  await t.step(
    "offers both session methods or neither",
    () =>
      withFixture(make, ({ store }) => {
        const load = typeof store.loadSessions === "function";
        const save = typeof store.saveSessions === "function";
        assert.equal(load, save, "a store offers loadSessions and saveSessions together");
        keepsSessions = load;
        return Promise.resolve();
      }),
  );
  const step = (
    name: string,
    fn: (fixture: SessionFixture) => Promise<void>,
    needsReopen = false,
  ) =>
    t.step({
      name: `sessions: ${name}`,
      ignore: !keepsSessions || (needsReopen && !persists),
      fn: () => withFixture(make, (fixture) => fn(fixture as SessionFixture)),
    });

  await step("loads no sessions the first time", async ({ store }) => {
    assert.deepStrictEqual(await store.loadSessions(), emptyStickySessionsRecord());
  });

  await step("loads the sessions saved, and a save replaces them all", async ({ store }) => {
    const first = sampleSessions(5);
    await store.saveSessions(first);
    assert.deepStrictEqual(await store.loadSessions(), first);
    const second = sampleSessions(2, 7);
    await store.saveSessions(second);
    assert.deepStrictEqual(await store.loadSessions(), second);
    await store.saveSessions(emptyStickySessionsRecord());
    assert.deepStrictEqual(await store.loadSessions(), emptyStickySessionsRecord());
  });

  await step("round-trips arbitrary sessions", async ({ store }) => {
    await fc.assert(
      fc.asyncProperty(stickySessionsArbitrary(), async (record) => {
        await store.saveSessions(record);
        assert.deepStrictEqual(await store.loadSessions(), record);
      }),
      { numRuns: ROUND_TRIP_RUNS },
    );
  });

  await step("sessions and pools are saved independently", async ({ store }) => {
    const pools = sampleRecord(2);
    const sessions = sampleSessions(3);
    await store.save(pools);
    await store.saveSessions(sessions);
    await store.save(sampleRecord(1, 5));
    assert.deepStrictEqual(await store.loadSessions(), sessions, "saving pools dropped sessions");
    await store.saveSessions(emptyStickySessionsRecord());
    assert.deepStrictEqual(await store.load(), sampleRecord(1, 5), "saving sessions changed pools");
  });

  await step(`the last of ${CONCURRENT_SAVES} concurrent session saves wins`, async ({ store }) => {
    const records = Array.from(
      { length: CONCURRENT_SAVES },
      (_, i) => sampleSessions(1 + i % 4, i),
    );
    await Promise.all(records.map((record) => store.saveSessions(record)));
    assert.deepStrictEqual(await store.loadSessions(), records.at(-1));
  });

  await step("keeps its sessions across a reopen", async ({ store, reopen }) => {
    const sessions = sampleSessions(4);
    await store.saveSessions(sessions);
    const reopened = await reopen!();
    assert.deepStrictEqual(await reopened.loadSessions?.(), sessions);
  }, true);

  await step("never aliases saved or loaded sessions to its state", async ({ store }) => {
    const saved = sampleSessions(2);
    await store.saveSessions(saved);
    const mutable = saved.sessions as Record<string, StickySessionRecord>;
    mutable["intruder"] = { peer_id: "intruder", owner: null, idle_ms: 1, used_at: 0 };
    assert.deepStrictEqual(await store.loadSessions(), sampleSessions(2));
    const loaded = await store.loadSessions();
    (loaded.sessions as Record<string, StickySessionRecord>)["intruder"] = mutable["intruder"];
    assert.deepStrictEqual(await store.loadSessions(), sampleSessions(2));
  });
}

/** A fixture whose store has the session methods (checked by the first session step). */
type SessionFixture = StickyStoreFixture & {
  readonly store: StickyStore & Required<Pick<StickyStore, "loadSessions" | "saveSessions">>;
};

/**
 * A deterministic sessions record of `count` sessions, each on its own exit; `seed` varies the
 * keys, exits and times.
 */
export function sampleSessions(count: number, seed = 0): StickySessionsRecord {
  const sessions: Record<string, StickySessionRecord> = {};
  for (let i = 0; i < count; i++) {
    sessions[`v1|port=0|country=DE|session=s${seed}-${i}`] = {
      peer_id: aPeerId(seed * 1_000 + i),
      owner: i % 2 === 0 ? `account${seed}` : null,
      idle_ms: (1 + i) * 60_000,
      used_at: BASE_TIME_MS + seed * 1_000 + i,
    };
  }
  return { version: STICKY_SESSIONS_VERSION, sessions };
}

/** Arbitrary valid sessions records: keys of 1–200 characters, whole-minute lifetimes. */
export function stickySessionsArbitrary(): FastCheckArbitrary<StickySessionsRecord> {
  const session = fc.record({
    peer_id: fc.nat({ max: 1_000_000 }).map((n) => String(aPeerId(n))),
    owner: fc.option(fc.string({ maxLength: 40 }), { nil: null }),
    idle_ms: fc.integer({ min: 1, max: 1_440 }).map((minutes) => minutes * 60_000),
    used_at: fc.integer({ min: 0, max: 4_102_444_800_000 }),
  }, { noNullPrototype: true });
  const key = fc.string({ minLength: 1, maxLength: 200 });
  return fc.dictionary(key, session, { maxKeys: 8, noNullPrototype: true }).map((sessions) => ({
    version: STICKY_SESSIONS_VERSION,
    sessions,
  }));
}

/**
 * A deterministic record of `servers` servers (ports 1080, 1081, …) with
 * `peersPerServer` peers each, every other peer with a direct address. `seed`
 * varies the peers and fingerprints.
 */
export function sampleRecord(servers: number, seed = 0, peersPerServer = 3): StickyRecord {
  const entries: Record<string, StickyServerRecord> = {};
  for (let s = 0; s < servers; s++) {
    const peers: StickyPeerRecord[] = [];
    for (let p = 0; p < peersPerServer; p++) {
      const peerId = aPeerId(seed * 10_000 + s * 100 + p);
      peers.push({
        peer_id: peerId,
        address: p % 2 === 0 ? aDirectAddress(peerId, p + 1) : null,
        updated_at: BASE_TIME_MS + seed * 1_000 + p,
      });
    }
    entries[String(1080 + s)] = { fingerprint: `v1|${1080 + s}|NL||seed-${seed}`, peers };
  }
  return { version: STICKY_RECORD_VERSION, servers: entries };
}

/**
 * fast-check's `Arbitrary`, under a local name: Deno's doc lint counts types
 * from npm packages as private and would ask to re-export fast-check's API.
 * Pass it to `fc.property` like any arbitrary.
 *
 * @internal
 */
type FastCheckArbitrary<T> = fc.Arbitrary<T>;

/** Arbitrary valid sticky records: decimal port keys, distinct peer ids per pool, optional addresses. */
export function stickyRecordArbitrary(): FastCheckArbitrary<StickyRecord> {
  const peer = fc.record({
    peer_id: fc.nat({ max: 1_000_000 }).map((n) => String(aPeerId(n))),
    address: fc.option(
      fc.tuple(fc.nat({ max: 255 }), fc.integer({ min: 1, max: 65_535 })).map(([host, port]) =>
        `/ip4/203.0.113.${host}/tcp/${port}`
      ),
      { nil: null },
    ),
    updated_at: fc.integer({ min: 0, max: 4_102_444_800_000 }),
  }, { noNullPrototype: true });
  const server = fc.record({
    fingerprint: fc.string({ minLength: 1, maxLength: 80 }),
    peers: fc.uniqueArray(peer, { maxLength: 8, selector: (p) => p.peer_id }),
  }, { noNullPrototype: true });
  const port = fc.integer({ min: 1, max: 65_535 }).map(String);
  return fc.dictionary(port, server, { maxKeys: 6, noNullPrototype: true }).map((servers) => ({
    version: STICKY_RECORD_VERSION,
    servers,
  }));
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface MutableRecord {
  version: number;
  servers: Record<string, { fingerprint: string; peers: Mutable<StickyPeerRecord>[] }>;
}

/** The same object, typed as the mutable thing it is at run time. */
function mutableRecord(record: StickyRecord): MutableRecord {
  return record as unknown as MutableRecord;
}

/** Changes every level of a record in place. */
function vandalise(record: MutableRecord): void {
  for (const server of Object.values(record.servers)) {
    server.fingerprint = "vandalised";
    const first = server.peers[0];
    if (first) first.peer_id = "vandalised";
    server.peers.push({ peer_id: "intruder", address: null, updated_at: 0 });
  }
  record.servers["9"] = { fingerprint: "intruder", peers: [] };
}
