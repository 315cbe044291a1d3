/**
 * Compliance suite of the `RegistryStore` port: any registry, built-in or
 * third-party, runs it against itself.
 *
 * @example
 * ```ts
 * import { registryStoreCompliance } from "@p2proxy/p2proxy/testing";
 *
 * Deno.test("RedisRegistryStore is a RegistryStore", (t) =>
 *   registryStoreCompliance(t, () => {
 *     const prefix = crypto.randomUUID();
 *     const store = new RedisRegistryStore(prefix);
 *     return {
 *       store,
 *       reopen: () => Promise.resolve(new RedisRegistryStore(prefix)),
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
import { asMultiaddr, asPeerId, type Multiaddr, type PeerId } from "../../ids.ts";
import type { ExitAttributes } from "../../domain/attributes.ts";
import type { ExitRegistration, RegistryStore } from "../../ports/registry_store.ts";
import { aDirectAddress, aPeerId, aRelayAddress, aRelayPeerId } from "../builders.ts";
import { type Awaitable, type Releasable, withFixture } from "./_harness.ts";

/** What a registry factory hands the suite. Each call must give a store over fresh, empty storage. */
export interface RegistryStoreFixture extends Releasable {
  /** The store under test, over fresh, empty storage. */
  readonly store: RegistryStore;
  /**
   * Another store over the same storage, as a second hub sharing the registry
   * or the same hub after a restart. Omit it for a store that does not
   * persist; `cleanup` must also release reopened stores.
   */
  readonly reopen?: () => Promise<RegistryStore>;
}

/** Registrations written at once in the concurrency step. */
const CONCURRENT_PUTS = 50;

/** Registrations in the large-registry step: a busy hub's worth. */
const LARGE_REGISTRY_SIZE = 300;

/** Registrations in the find step, spread over {@link FIND_COUNTRIES} and {@link FIND_ASNS}. */
const FIND_REGISTRY_SIZE = 60;
const FIND_COUNTRIES = ["NL", "DE", "US"] as const;
const FIND_ASNS = [64_496, 64_497, 64_498, 64_499] as const;

/** Property runs of the arbitrary round-trip. */
const ROUND_TRIP_RUNS = 25;

/** A fixed instant (2023-11-14T22:13:20Z) so records are reproducible. */
const BASE_TIME_MS = 1_700_000_000_000;

/**
 * Runs the `RegistryStore` compliance steps: empty at first; put→get and
 * list round-trip (examples and arbitrary records); put replaces; remove
 * forgets and says whether there was a record; expired records are kept
 * (expiry is the caller's decision); concurrent puts all land; a large
 * registry lists whole; records are copied both ways; `find` (when the store
 * has it) returns every record of a country and an ASN; a second handle over
 * the same storage sees the first's writes (when `reopen` is given); `close`
 * may be called twice.
 */
export async function registryStoreCompliance(
  t: TestContext,
  make: () => Awaitable<RegistryStoreFixture>,
): Promise<void> {
  let persists = false;
  let finds = false;
  await t.step("is empty at first", () =>
    withFixture(make, async ({ store, reopen }) => {
      persists = reopen !== undefined;
      finds = typeof store.find === "function";
      assert.deepStrictEqual(await store.list(), []);
      assert.equal(await store.get(aPeerId(1)), undefined);
      assert.equal(await store.remove(aPeerId(1)), false);
    }));

  await t.step(
    "returns what was put, by id and in the list",
    () =>
      withFixture(make, async ({ store }) => {
        const a = sampleRegistration(1);
        const b = sampleRegistration(2, { relayed: true });
        await store.put(a);
        await store.put(b);
        assert.deepStrictEqual(await store.get(a.peerId), a);
        assert.deepStrictEqual(await store.get(b.peerId), b);
        assert.deepStrictEqual(byId(await store.list()), byId([a, b]));
      }),
  );

  await t.step("round-trips arbitrary registrations", () =>
    withFixture(make, async ({ store }) => {
      await fc.assert(
        fc.asyncProperty(registrationArbitrary(), async (registration) => {
          await store.put(registration);
          assert.deepStrictEqual(await store.get(registration.peerId), registration);
        }),
        { numRuns: ROUND_TRIP_RUNS },
      );
    }));

  await t.step(
    "a put replaces the record of the same peer",
    () =>
      withFixture(make, async ({ store }) => {
        await store.put(sampleRegistration(1));
        const newer = sampleRegistration(1, { lastSeenAt: BASE_TIME_MS + 30_000, relayed: true });
        await store.put(newer);
        assert.deepStrictEqual(await store.get(newer.peerId), newer);
        assert.deepStrictEqual(await store.list(), [newer]);
      }),
  );

  await t.step(
    "remove forgets one peer and says whether it was there",
    () =>
      withFixture(make, async ({ store }) => {
        const a = sampleRegistration(1);
        const b = sampleRegistration(2);
        await store.put(a);
        await store.put(b);
        assert.equal(await store.remove(a.peerId), true);
        assert.equal(await store.remove(a.peerId), false);
        assert.equal(await store.get(a.peerId), undefined);
        assert.deepStrictEqual(await store.list(), [b]);
      }),
  );

  await t.step(
    "keeps expired records: expiry is the caller's decision",
    () =>
      withFixture(make, async ({ store }) => {
        const old = sampleRegistration(1, { expiresAt: 1, lastSeenAt: 0, registeredAt: 0 });
        await store.put(old);
        assert.deepStrictEqual(await store.get(old.peerId), old);
      }),
  );

  await t.step(
    `keeps all of ${CONCURRENT_PUTS} concurrent puts`,
    () =>
      withFixture(make, async ({ store }) => {
        const all = Array.from({ length: CONCURRENT_PUTS }, (_, i) => sampleRegistration(i + 1));
        await Promise.all(all.map((registration) => store.put(registration)));
        assert.deepStrictEqual(byId(await store.list()), byId(all));
      }),
  );

  await t.step(
    `lists a registry of ${LARGE_REGISTRY_SIZE} exits whole`,
    () =>
      withFixture(make, async ({ store }) => {
        const all = Array.from(
          { length: LARGE_REGISTRY_SIZE },
          (_, i) => sampleRegistration(i + 1),
        );
        for (const registration of all) {
          await store.put(registration);
        }
        assert.deepStrictEqual(byId(await store.list()), byId(all));
      }),
  );

  await t.step(
    "never aliases put or returned records to its state",
    () =>
      withFixture(make, async ({ store }) => {
        const put = sampleRegistration(1);
        const expected = sampleRegistration(1);
        await store.put(put);
        vandalise(put);
        assert.deepStrictEqual(
          await store.get(expected.peerId),
          expected,
          "a put record leaked in",
        );
        const got = await store.get(expected.peerId);
        if (got) vandalise(got);
        for (const listed of await store.list()) vandalise(listed);
        assert.deepStrictEqual(
          await store.get(expected.peerId),
          expected,
          "a returned record leaked in",
        );
      }),
  );

  await t.step({
    name: "find returns every record of the country and ASN asked for, as copies",
    ignore: !finds,
    fn: () =>
      withFixture(make, async ({ store }) => {
        assert.ok(store.find, "the store stopped offering find()");
        const all = Array.from({ length: FIND_REGISTRY_SIZE }, (_, i) =>
          sampleRegistration(i + 1, {
            attributes: {
              ...sampleRegistration(i + 1).attributes,
              country: FIND_COUNTRIES[i % FIND_COUNTRIES.length],
              asn: FIND_ASNS[i % FIND_ASNS.length],
            },
          }));
        await Promise.all(all.map((registration) => store.put(registration)));
        // One record moves to another country and ASN: it must be found under the new ones.
        const moved = sampleRegistration(1, {
          attributes: { ...all[0]!.attributes, country: "JP", asn: 7 },
        });
        await store.put(moved);
        all[0] = moved;
        await store.remove(all[1]!.peerId);
        const current = all.filter((_, i) => i !== 1);
        // Fresh copies: a store that kept the caller's objects must not pass by comparing them.
        const untouched = byId(current.map((record) => structuredClone(record)));
        const queries = [
          {},
          { country: "DE" },
          { country: "JP" },
          { asn: FIND_ASNS[0] },
          { asn: 7 },
          { country: "NL", asn: FIND_ASNS[1] },
          { country: "FR" },
        ];
        for (const query of queries) {
          const found = await store.find(query);
          const foundById = byId(found);
          assert.equal(foundById.size, found.length, `find(${JSON.stringify(query)}) repeats`);
          for (const record of current) {
            const wanted = (query.country === undefined ||
              record.attributes.country === query.country) &&
              (query.asn === undefined || record.attributes.asn === query.asn);
            if (!wanted) continue;
            assert.deepStrictEqual(
              foundById.get(record.peerId),
              record,
              `find(${JSON.stringify(query)}) missed or altered ${record.peerId}`,
            );
          }
          for (const record of found) {
            assert.deepStrictEqual(record, await store.get(record.peerId), "not a current record");
          }
          for (const record of found) vandalise(record);
        }
        assert.deepStrictEqual(byId(await store.list()), untouched, "find leaked state");
      }),
  });

  await t.step({
    name: "a second handle over the same storage sees the first one's writes",
    ignore: !persists,
    fn: () =>
      withFixture(make, async ({ store, reopen }) => {
        assert.ok(reopen, "the fixture stopped offering reopen()");
        const other = await reopen();
        const a = sampleRegistration(1);
        await store.put(a);
        assert.deepStrictEqual(await other.get(a.peerId), a);
        const b = sampleRegistration(2);
        await other.put(b);
        assert.deepStrictEqual(byId(await store.list()), byId([a, b]));
        assert.equal(await other.remove(a.peerId), true);
        assert.equal(await store.get(a.peerId), undefined);
      }),
  });

  await t.step("close may be called twice", () =>
    withFixture(make, async ({ store }) => {
      await store.close?.();
      await store.close?.();
    }));
}

/** A deterministic registration of `aPeerId(n)`, with `overrides` applied. */
export function sampleRegistration(
  n: number,
  overrides: Partial<ExitRegistration> = {},
): ExitRegistration {
  const peerId = aPeerId(n);
  return {
    peerId,
    attributes: {
      country: "NL",
      city: "Amsterdam",
      isp: "Example B.V.",
      asn: 64_496 + (n % 7),
      bandwidthBps: 100_000_000 * (1 + (n % 5)),
      proxy: n % 2 === 0,
      mobile: false,
      hosting: n % 3 === 0,
    },
    addresses: [aDirectAddress(peerId, n)],
    relayed: false,
    relayRoutes: [],
    registeredAt: BASE_TIME_MS,
    lastSeenAt: BASE_TIME_MS + n,
    expiresAt: BASE_TIME_MS + 90_000 + n,
    ...overrides,
  };
}

/**
 * fast-check's `Arbitrary`, under a local name: Deno's doc lint counts types
 * from npm packages as private and would ask to re-export fast-check's API.
 * Pass it to `fc.property` like any arbitrary.
 *
 * @internal
 */
type FastCheckArbitrary<T> = fc.Arbitrary<T>;

/** Arbitrary registrations within the domain's bounds. */
export function registrationArbitrary(): FastCheckArbitrary<ExitRegistration> {
  const text = fc.string({ minLength: 1, maxLength: 128 });
  const attributes: fc.Arbitrary<ExitAttributes> = fc.record(
    {
      country: fc.constantFrom("NL", "DE", "US", "JP", "BR"),
      city: text,
      region: text,
      isp: text,
      asn: fc.integer({ min: 0, max: 4_294_967_295 }),
      bandwidthBps: fc.integer({ min: 0, max: 1e15 }),
      proxy: fc.boolean(),
      mobile: fc.boolean(),
      hosting: fc.boolean(),
    },
    { requiredKeys: ["bandwidthBps", "proxy", "mobile", "hosting"] },
  );
  return fc.record({
    n: fc.integer({ min: 1, max: 1_000 }),
    attributes,
    hosts: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 16 }),
    relayed: fc.boolean(),
    slotHubs: fc.array(fc.integer({ min: 0, max: 7 }), { maxLength: 3 }),
    located: fc.option(fc.tuple(fc.boolean(), fc.constantFrom("NL", "DE")), { nil: undefined }),
    times: fc.tuple(
      fc.integer({ min: 0, max: 1e12 }),
      fc.integer({ min: 0, max: 1e12 }),
      fc.integer({ min: 0, max: 1e12 }),
    ),
  }).map(({ n, attributes, hosts, relayed, slotHubs, located, times: [a, b, c] }) => {
    const peerId = aPeerId(n);
    const relaySlots = slotHubs.map((hub) => ({
      hub: aRelayPeerId(hub),
      routes: [asMultiaddr(`${aRelayAddress(aRelayPeerId(hub))}/p2p-circuit/p2p/${peerId}`)],
      seenAt: BASE_TIME_MS + a,
    }));
    return {
      peerId,
      // fast-check builds records with a null prototype; a store returns plain objects.
      attributes: { ...attributes },
      addresses: hosts.map((host) => aDirectAddress(peerId, host)),
      relayed,
      relayRoutes: relayed ? [asMultiaddr(`${aRelayAddress()}/p2p-circuit/p2p/${peerId}`)] : [],
      registeredAt: BASE_TIME_MS + a,
      lastSeenAt: BASE_TIME_MS + a + b,
      expiresAt: BASE_TIME_MS + a + b + c,
      ...(relaySlots.length > 0 ? { relaySlots } : {}),
      ...(located === undefined ? {} : {
        location: {
          observedIp: `198.51.100.${n % 256}`,
          verified: located[0],
          replaced: located[0]
            ? [{ field: "country" as const, declared: "FR", located: located[1] }]
            : [],
        },
      }),
    };
  });
}

function byId(records: readonly ExitRegistration[]): Map<PeerId, ExitRegistration> {
  return new Map(records.map((record) => [asPeerId(record.peerId), record]));
}

/** Scribbles over every field a careless store might share. */
function vandalise(record: ExitRegistration): void {
  const writable = record as {
    -readonly [K in keyof ExitRegistration]: ExitRegistration[K];
  };
  (writable.attributes as { country?: string }).country = "XX";
  (writable.addresses as Multiaddr[]).push(asMultiaddr("/ip4/0.0.0.0/tcp/1"));
  (writable.relayRoutes as Multiaddr[]).push(asMultiaddr("/ip4/0.0.0.0/tcp/2"));
  for (const slot of writable.relaySlots ?? []) (slot.routes as Multiaddr[]).length = 0;
  if (writable.location) (writable.location.replaced as unknown[]).length = 0;
  writable.expiresAt = -1;
}
