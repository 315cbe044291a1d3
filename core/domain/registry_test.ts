import assert from "node:assert/strict";
import fc from "fast-check";
import { asMultiaddr, isRelayedAddress, type Multiaddr, type PeerId } from "../ids.ts";
import type { ExitRegistration } from "../ports/registry_store.ts";
import { aPeerId, aRelayAddress, aRelayPeerId, someAttributes } from "../testing/builders.ts";
import { type ExitAttributes, NO_FILTERS, type ServerFilters } from "./attributes.ts";
import { createFilterMatcher, FilterError } from "./filters.ts";
import {
  acceptRegistration,
  announcedHeartbeatSecs,
  circuitsThrough,
  ExitRotation,
  expiryOf,
  FIND_NODES_HARD_LIMIT,
  findNodesLimit,
  isExpired,
  MAX_REGISTERED_ADDRESSES,
  MAX_RELAY_HUBS,
  peerListProblems,
  type RegistrationContext,
  type RegistrationRequest,
  RegistryError,
  registryQueryOf,
  routesOf,
  selectExits,
  type SelectionContext,
} from "./registry.ts";

const NOW = 1_700_000_000_000;
const HEARTBEAT_MS = 30_000;
const HUB = aRelayPeerId();
const HUB_ADDRESS = aRelayAddress(HUB);

function context(registrant: PeerId, overrides: Partial<RegistrationContext> = {}) {
  return {
    registrant,
    now: NOW,
    heartbeatIntervalMs: HEARTBEAT_MS,
    missedHeartbeats: 3,
    hubAddresses: [HUB_ADDRESS],
    holdsReservation: false,
    ...overrides,
  } satisfies RegistrationContext;
}

function request(overrides: Partial<RegistrationRequest> = {}): RegistrationRequest {
  return {
    attributes: someAttributes(),
    addresses: ["/ip4/198.51.100.7/tcp/4001"],
    relayed: false,
    ...overrides,
  };
}

function refusal(fn: () => unknown): RegistryError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof RegistryError, `expected a RegistryError, got ${error}`);
    assert.equal(error.code, "invalid-argument");
    return error;
  }
  assert.fail("expected the registration to be refused");
}

function registered(
  n: number,
  overrides: Partial<ExitRegistration> = {},
  attributes: Partial<ExitAttributes> = {},
): ExitRegistration {
  const peer = aPeerId(n);
  return {
    ...acceptRegistration(
      request({
        attributes: someAttributes(attributes),
        addresses: [`/ip4/198.51.100.${n}/tcp/4001`],
      }),
      context(peer),
    ),
    ...overrides,
  };
}

function selection(rotation = new ExitRotation(), overrides: Partial<SelectionContext> = {}) {
  return { now: NOW, findNodesMax: 100, rotation, hubCircuits: () => [], ...overrides };
}

function ids(exits: readonly { registration: ExitRegistration }[]): PeerId[] {
  return exits.map((exit) => exit.registration.peerId);
}

Deno.test("acceptRegistration", async (t) => {
  const exit = aPeerId(1);

  await t.step("stores the registrant's id, tagged addresses and the expiry", () => {
    const record = acceptRegistration(request(), context(exit));
    assert.equal(record.peerId, exit);
    assert.deepEqual(record.addresses, [`/ip4/198.51.100.7/tcp/4001/p2p/${exit}`]);
    assert.equal(record.expiresAt, NOW + 3 * HEARTBEAT_MS);
    assert.equal(record.registeredAt, NOW);
    assert.equal(record.lastSeenAt, NOW);
    assert.deepEqual(record.relayRoutes, []);
  });

  await t.step("keeps the first registration time across heartbeats", () => {
    const first = acceptRegistration(request(), context(exit));
    const later = acceptRegistration(
      request(),
      context(exit, { now: NOW + 5_000, previous: first }),
    );
    assert.equal(later.registeredAt, NOW);
    assert.equal(later.lastSeenAt, NOW + 5_000);
  });

  await t.step("accepts an address already naming the registrant and drops duplicates", () => {
    const record = acceptRegistration(
      request({
        addresses: [
          `/ip4/198.51.100.7/tcp/4001/p2p/${exit}`,
          "/ip4/198.51.100.7/tcp/4001",
          "/dns4/exit.example/tcp/4001",
        ],
      }),
      context(exit),
    );
    assert.deepEqual(record.addresses, [
      `/ip4/198.51.100.7/tcp/4001/p2p/${exit}`,
      `/dns4/exit.example/tcp/4001/p2p/${exit}`,
    ]);
  });

  await t.step(
    "refuses an address naming another peer: an exit cannot register for another",
    () => {
      const other = aPeerId(2);
      const error = refusal(() =>
        acceptRegistration(
          request({ addresses: [`/ip4/198.51.100.7/tcp/4001/p2p/${other}`] }),
          context(exit),
        )
      );
      assert.match(error.message, new RegExp(`names peer "${other}"`));
    },
  );

  await t.step("refuses circuits, garbage, long and too many addresses", () => {
    refusal(() =>
      acceptRegistration(request({ addresses: [`${HUB_ADDRESS}/p2p-circuit`] }), context(exit))
    );
    refusal(() => acceptRegistration(request({ addresses: ["not-a-multiaddr"] }), context(exit)));
    refusal(() =>
      acceptRegistration(request({ addresses: ["/ip4/300.0.0.1/tcp/1"] }), context(exit))
    );
    refusal(() =>
      acceptRegistration(
        request({ addresses: [`/dns4/${"a".repeat(250)}/tcp/1`] }),
        context(exit),
      )
    );
    const many = Array.from(
      { length: MAX_REGISTERED_ADDRESSES + 1 },
      (_, i) => `/ip4/198.51.100.${i}/tcp/4001`,
    );
    refusal(() => acceptRegistration(request({ addresses: many }), context(exit)));
  });

  await t.step("validates attributes and lists every problem", () => {
    const error = refusal(() =>
      acceptRegistration(
        request({
          attributes: {
            country: "Atlantis",
            city: "x".repeat(129),
            region: "North; South",
            isp: "evil\u0007isp",
            asn: 2 ** 32,
            bandwidthBps: 2e15,
            proxy: false,
            mobile: false,
            hosting: false,
          },
        }),
        context(exit),
      )
    );
    assert.equal(error.problems.length, 6, error.message);
    for (const field of ["country", "city", "region", "isp", "asn", "bandwidth_bps"]) {
      assert.ok(error.problems.some((p) => p.includes(`attributes.${field}`)), field);
    }
  });

  await t.step("normalises the country to upper case and drops empty text", () => {
    const record = acceptRegistration(
      request({ attributes: someAttributes({ country: "de", city: "  ", isp: " ISP " }) }),
      context(exit),
    );
    assert.equal(record.attributes.country, "DE");
    assert.equal(record.attributes.city, undefined);
    assert.equal(record.attributes.isp, "ISP");
  });

  await t.step("refuses negative or fractional bandwidth", () => {
    refusal(() =>
      acceptRegistration(
        request({ attributes: someAttributes({ bandwidthBps: -1 }) }),
        context(exit),
      )
    );
    refusal(() =>
      acceptRegistration(
        request({ attributes: someAttributes({ bandwidthBps: 1.5 }) }),
        context(exit),
      )
    );
  });

  await t.step(
    "stores circuits through the hub for a relayed exit or one with a reservation",
    () => {
      const circuit = `${HUB_ADDRESS}/p2p-circuit/p2p/${exit}`;
      const relayed = acceptRegistration(request({ relayed: true, addresses: [] }), context(exit));
      assert.deepEqual(relayed.relayRoutes, [circuit]);
      const reserved = acceptRegistration(request(), context(exit, { holdsReservation: true }));
      assert.deepEqual(reserved.relayRoutes, [circuit]);
    },
  );

  await t.step(
    "records which hubs' relays hold the exit, keeping another hub's slot until it is stale",
    () => {
      const hubA = aRelayPeerId(1);
      const hubB = aRelayPeerId(2);
      const addressA = aRelayAddress(hubA);
      const addressB = aRelayAddress(hubB);
      const viaA = `${addressA}/p2p-circuit/p2p/${exit}`;
      const viaB = `${addressB}/p2p-circuit/p2p/${exit}`;
      const relayOnly = request({ relayed: true, addresses: [] });
      const atA = acceptRegistration(relayOnly, context(exit, { hubAddresses: [addressA] }));
      assert.deepEqual(atA.relaySlots, [{ hub: hubA, routes: [viaA], seenAt: NOW }]);
      // Hub B, sharing the registry, keeps A's slot: its own circuits come first (freshest).
      const atB = acceptRegistration(
        relayOnly,
        context(exit, { now: NOW + 1_000, hubAddresses: [addressB], previous: atA }),
      );
      assert.deepEqual(atB.relayRoutes, [viaB, viaA]);
      assert.deepEqual(atB.relaySlots?.map((slot) => slot.hub), [hubB, hubA]);
      // A went down: B keeps renewing, and A's slot falls out once as old as an expired record.
      const stillFresh = acceptRegistration(
        relayOnly,
        context(exit, { now: NOW + 3 * HEARTBEAT_MS - 1, hubAddresses: [addressB], previous: atB }),
      );
      assert.deepEqual(stillFresh.relayRoutes, [viaB, viaA]);
      const stale = acceptRegistration(
        relayOnly,
        context(exit, { now: NOW + 3 * HEARTBEAT_MS, hubAddresses: [addressB], previous: atB }),
      );
      assert.deepEqual(stale.relayRoutes, [viaB]);
      // The exit stopped listening through A: A's own next registration drops A's slot.
      const directAtA = acceptRegistration(
        request(),
        context(exit, { now: NOW + 2_000, hubAddresses: [addressA], previous: atB }),
      );
      assert.deepEqual(directAtA.relayRoutes, [viaB]);
      // The hub's id may be given explicitly (the directory server passes its own).
      const named = acceptRegistration(relayOnly, context(exit, { hub: hubB }));
      assert.equal(named.relaySlots?.[0]?.hub, hubB);
    },
  );

  await t.step("remembers at most MAX_RELAY_HUBS hubs' slots, the freshest", () => {
    let record: ExitRegistration | undefined;
    for (let hub = 0; hub < MAX_RELAY_HUBS + 3; hub++) {
      record = acceptRegistration(
        request({ relayed: true }),
        context(exit, {
          now: NOW + hub,
          hubAddresses: [aRelayAddress(aRelayPeerId(hub))],
          ...(record ? { previous: record } : {}),
        }),
      );
    }
    assert.equal(record?.relaySlots?.length, MAX_RELAY_HUBS);
    assert.equal(record?.relaySlots?.[0]?.hub, aRelayPeerId(MAX_RELAY_HUBS + 2));
  });

  await t.step("never registers anyone but the registrant (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 80 }), { maxLength: 20 }),
        fc.boolean(),
        fc.integer({ min: 2, max: 50 }),
        (addresses, relayed, other) => {
          try {
            const record = acceptRegistration(request({ addresses, relayed }), context(exit));
            assert.equal(record.peerId, exit);
            for (const route of routesOf(record)) {
              assert.ok(route.endsWith(`/p2p/${exit}`), route);
              assert.ok(!route.includes(aPeerId(other)));
            }
          } catch (error) {
            if (!(error instanceof RegistryError)) throw error;
          }
        },
      ),
    );
  });
});

Deno.test("expiry follows missed heartbeats", () => {
  assert.equal(expiryOf(NOW, 1_000, 3), NOW + 3_000);
  const record = registered(1);
  assert.equal(isExpired(record, record.expiresAt - 1), false);
  assert.equal(isExpired(record, record.expiresAt), true);
  assert.equal(announcedHeartbeatSecs(30_000), 30);
  assert.equal(announcedHeartbeatSecs(1_500), 1);
  assert.equal(announcedHeartbeatSecs(200), 1);
});

Deno.test("findNodesLimit caps at the request, the config and 100", () => {
  assert.equal(findNodesLimit(25, 100), 25);
  assert.equal(findNodesLimit(500, 100), 100);
  assert.equal(findNodesLimit(50, 10), 10);
  assert.equal(findNodesLimit(0, 40), 40);
  assert.equal(findNodesLimit(7, 1_000), 7);
  assert.equal(findNodesLimit(1_000, 1_000), FIND_NODES_HARD_LIMIT);
});

Deno.test("selectExits", async (t) => {
  await t.step("returns only unexpired, matching, not excluded exits", () => {
    const nl = registered(1, {}, { country: "NL", asn: 1, bandwidthBps: 1e9, hosting: true });
    const de = registered(2, {}, { country: "DE", asn: 2, bandwidthBps: 1e9 });
    const slow = registered(3, {}, { country: "NL", asn: 1, bandwidthBps: 1e6 });
    const old = registered(4, { expiresAt: NOW }, { country: "NL" });
    const all = [nl, de, slow, old];
    const query = (filters: Partial<ServerFilters>, exclude: string[] = []) =>
      ids(
        selectExits(
          all,
          { filters: { ...NO_FILTERS, ...filters }, limit: 25, exclude },
          selection(),
        ),
      );

    assert.deepEqual(new Set(query({})), new Set([nl.peerId, de.peerId, slow.peerId]));
    assert.deepEqual(new Set(query({ country: "NL" })), new Set([nl.peerId, slow.peerId]));
    assert.deepEqual(query({ country: "NL", minBandwidthBps: 1e8 }), [nl.peerId]);
    assert.deepEqual(query({ asn: 2 }), [de.peerId]);
    assert.deepEqual(query({ hosting: "require" }), [nl.peerId]);
    assert.deepEqual(new Set(query({ hosting: "deny" })), new Set([de.peerId, slow.peerId]));
    assert.deepEqual(query({ country: "NL" }, [nl.peerId, slow.peerId]), []);
  });

  await t.step("never returns an exit the core matcher rejects (property)", () => {
    const attributes = fc.record({
      country: fc.constantFrom("NL", "DE", "US"),
      asn: fc.integer({ min: 1, max: 3 }),
      bandwidthBps: fc.constantFrom(1e6, 1e8, 1e9),
      proxy: fc.boolean(),
      mobile: fc.boolean(),
      hosting: fc.boolean(),
    });
    const policy = fc.constantFrom("allow" as const, "deny" as const, "require" as const);
    const filters = fc.record({
      country: fc.option(fc.constantFrom("NL", "DE", "US"), { nil: undefined }),
      asn: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
      minBandwidthBps: fc.constantFrom(0, 1e7, 5e8),
      proxy: policy,
      mobile: policy,
      hosting: policy,
    });
    fc.assert(
      fc.property(fc.array(attributes, { maxLength: 12 }), filters, (exits, rawFilters) => {
        const records = exits.map((attrs, i) => registered(i + 1, {}, attrs));
        const wanted = Object.fromEntries(
          Object.entries(rawFilters).filter(([, v]) => v !== undefined),
        ) as unknown as ServerFilters;
        const match = createFilterMatcher(wanted);
        const chosen = selectExits(
          records,
          { filters: wanted, limit: 100, exclude: [] },
          selection(),
        );
        const expected = records.filter((r) => match(r.attributes).matches).map((r) => r.peerId);
        assert.deepEqual(new Set(ids(chosen)), new Set(expected));
      }),
    );
  });

  await t.step("puts exits with direct routes before relay-only ones", () => {
    const relayOnly = registered(1, {
      addresses: [],
      relayRoutes: [asMultiaddr(`${HUB_ADDRESS}/p2p-circuit/p2p/${aPeerId(1)}`)],
    });
    const direct = registered(9);
    const chosen = selectExits(
      [relayOnly, direct],
      { filters: NO_FILTERS, limit: 10, exclude: [] },
      selection(),
    );
    assert.deepEqual(ids(chosen), [direct.peerId, relayOnly.peerId]);
    assert.ok(chosen[1]!.routes.every(isRelayedAddress));
  });

  await t.step("rotates through the matching exits, least recently returned first", () => {
    const records = [1, 2, 3, 4, 5].map((n) => registered(n));
    const rotation = new ExitRotation();
    const seen: PeerId[] = [];
    for (let i = 0; i < 5; i++) {
      const chosen = ids(
        selectExits(records, { filters: NO_FILTERS, limit: 2, exclude: [] }, selection(rotation)),
      );
      assert.equal(chosen.length, 2);
      seen.push(...chosen);
    }
    // 10 answers over 5 exits: each returned exactly twice.
    for (const record of records) {
      assert.equal(seen.filter((p) => p === record.peerId).length, 2, record.peerId);
    }
    // The first answer breaks ties by peer id.
    const sorted = records.map((r) => r.peerId).sort();
    assert.deepEqual(seen.slice(0, 2), sorted.slice(0, 2));
  });

  await t.step("caps the answer at the limit, the config and 100", () => {
    const records = Array.from({ length: 120 }, (_, i) => registered(i + 1));
    const take = (limit: number, findNodesMax: number) =>
      selectExits(
        records,
        { filters: NO_FILTERS, limit, exclude: [] },
        selection(undefined, {
          findNodesMax,
        }),
      ).length;
    assert.equal(take(25, 100), 25);
    assert.equal(take(500, 100), 100);
    assert.equal(take(50, 10), 10);
  });

  await t.step("adds this hub's circuits after the direct routes", () => {
    const record = registered(1);
    const circuit = asMultiaddr(`${HUB_ADDRESS}/p2p-circuit/p2p/${record.peerId}`);
    const [chosen] = selectExits(
      [record],
      { filters: NO_FILTERS, limit: 1, exclude: [] },
      selection(undefined, { hubCircuits: () => [circuit] }),
    );
    assert.deepEqual(chosen?.routes, [...record.addresses, circuit]);
  });

  await t.step("refuses unusable filters with the core's FilterError", () => {
    assert.throws(
      () =>
        selectExits(
          [],
          { filters: { ...NO_FILTERS, isp: "(a+)+" }, limit: 1, exclude: [] },
          selection(),
        ),
      FilterError,
    );
  });
});

Deno.test("circuitsThrough skips circuits and the exit itself and caps the count", () => {
  const exit = aPeerId(1);
  const addresses: Multiaddr[] = [
    HUB_ADDRESS,
    asMultiaddr(`${HUB_ADDRESS}/p2p-circuit`),
    asMultiaddr(`/ip4/198.51.100.1/tcp/4001/p2p/${exit}`),
    ...[1, 2, 3, 4, 5].map((n) => asMultiaddr(`/ip4/203.0.113.${n}/tcp/4001/p2p/${HUB}`)),
  ];
  const circuits = circuitsThrough(addresses, exit);
  assert.equal(circuits.length, 4);
  assert.equal(circuits[0], `${HUB_ADDRESS}/p2p-circuit/p2p/${exit}`);
});

Deno.test("peerListProblems bounds the count and the length of ids", () => {
  assert.deepEqual(peerListProblems("peer_ids", [aPeerId(1)], 100), []);
  assert.equal(peerListProblems("peer_ids", Array(101).fill(aPeerId(1)), 100).length, 1);
  assert.equal(peerListProblems("exclude", ["x".repeat(200)], 100).length, 1);
});

Deno.test("registryQueryOf narrows by the filters' country (as alpha-2) and ASN only", () => {
  assert.deepEqual(registryQueryOf(NO_FILTERS), {});
  assert.deepEqual(registryQueryOf({ ...NO_FILTERS, country: "nl", asn: 1136, isp: "KPN" }), {
    country: "NL",
    asn: 1136,
  });
  assert.deepEqual(registryQueryOf({ ...NO_FILTERS, country: "Netherlands" }), { country: "NL" });
});
