/**
 * Compliance suite of the `PeerDirectory` port: any directory the proxy asks
 * for exits (the hub client, a fake, a service registry) runs it against
 * itself. The suite says which exits to register; the factory registers them
 * and answers with the records the directory must return.
 *
 * @example
 * ```ts
 * import { peerDirectoryCompliance } from "@p2proxy/p2proxy/testing";
 *
 * Deno.test("ConsulDirectory is a PeerDirectory", (t) =>
 *   peerDirectoryCompliance(t, async (seeds) => {
 *     const consul = await startTestConsul();
 *     const exits = await Promise.all(seeds.map((attributes) => consul.register(attributes)));
 *     return {
 *       directory: new ConsulDirectory(consul.url),
 *       exits,
 *       unknown: "12D3KooWUnknownPeer…",
 *       unavailable: () => new ConsulDirectory("http://127.0.0.1:1"),
 *       cleanup: () => consul.stop(),
 *     };
 *   }));
 * ```
 *
 * @module
 */
import type { TestContext } from "./_test_context.ts";
import assert from "node:assert/strict";
import { type ExitAttributes, NO_FILTERS, type ServerFilters } from "../../domain/attributes.ts";
import type { PeerId } from "../../ids.ts";
import {
  DirectoryError,
  type DirectoryErrorCode,
  type FindNodesQuery,
  type PeerDirectory,
  type PeerRecord,
} from "../../ports/peer_directory.ts";
import { someAttributes } from "../builders.ts";
import {
  type Awaitable,
  isOrWraps,
  outcomeOf,
  type Releasable,
  SETTLE_TIMEOUT_MS,
  withFixture,
  within,
} from "./_harness.ts";

/** What a directory factory hands the suite, for the exits it was asked to register. */
export interface PeerDirectoryFixture extends Releasable {
  /** The directory under test, knowing exactly the registered exits. */
  readonly directory: PeerDirectory;
  /**
   * The registered exits, in the order of the seeds: each one's id, the
   * routes the directory must answer for it (each ending in `/p2p/<id>`),
   * and the attributes it registered.
   */
  readonly exits: readonly PeerRecord[];
  /** A well-formed peer id the directory does not know. */
  readonly unknown: PeerId;
  /**
   * A directory of the same kind with nothing to ask (no hub configured or
   * reachable), for the unavailable step; leave it out to skip that step.
   */
  readonly unavailable?: () => Awaitable<PeerDirectory>;
  /**
   * A directory of the same kind whose hub never answers, with a short
   * deadline (well under five seconds), for the timeout step; leave it out
   * to skip that step.
   */
  readonly silent?: () => Awaitable<PeerDirectory>;
}

/**
 * The exits every fixture registers: two in Sweden (one at a hosting
 * provider) and one in Germany, so that filters, limit and exclude each
 * leave a different set.
 */
export const PEER_DIRECTORY_SEEDS: readonly ExitAttributes[] = [
  someAttributes({ country: "SE", city: "Stockholm", hosting: false }),
  someAttributes({ country: "DE", city: "Berlin", hosting: false }),
  someAttributes({ country: "SE", city: "Gothenburg", hosting: true }),
];

/** A query for every exit. */
const EVERY_EXIT: FindNodesQuery = { filters: NO_FILTERS, limit: 100, exclude: [] };

/** The ids of `records`, sorted, to compare answers whose order is the directory's. */
function idsOf(records: readonly PeerRecord[]): PeerId[] {
  return records.map((record) => record.peerId).sort();
}

function seedsWhere(
  exits: readonly PeerRecord[],
  keep: (attributes: ExitAttributes) => boolean,
): PeerId[] {
  return idsOf(exits.filter((_, index) => keep(PEER_DIRECTORY_SEEDS[index]!)));
}

function assertRecordsOf(
  answer: readonly PeerRecord[],
  exits: readonly PeerRecord[],
  expected: readonly PeerId[],
  what: string,
): void {
  assert.ok(Array.isArray(answer), `${what}: findNodes must answer an array`);
  assert.deepEqual(idsOf(answer), [...expected].sort(), what);
  for (const record of answer) {
    const registered = exits.find((exit) => exit.peerId === record.peerId)!;
    assert.deepEqual(
      [...record.routes],
      [...registered.routes],
      `${what}: routes of ${record.peerId}`,
    );
  }
}

async function assertDirectoryError(
  promise: Promise<unknown>,
  code: DirectoryErrorCode,
  what: string,
): Promise<void> {
  const outcome = await within(outcomeOf(promise), SETTLE_TIMEOUT_MS * 2, what);
  assert.ok(!outcome.ok, `${what} resolved; expected DirectoryError ${code}`);
  const { error } = outcome;
  assert.ok(error instanceof DirectoryError, `${what}: expected a DirectoryError, got ${error}`);
  assert.equal(error.code, code, `${what}: ${error.message}`);
  assert.ok(error.message.length > 0, `${what}: the error says nothing`);
}

/**
 * Runs the `PeerDirectory` compliance steps over the exits of
 * {@link PEER_DIRECTORY_SEEDS}: `findNodes` answers every exit with its
 * routes, only the exits matching its filters, at most `limit`, none of
 * `exclude`; filters a directory cannot use reject with `DirectoryError`
 * `rejected`; `resolvePeers` answers the routes of each known id and leaves
 * unknown ids out; `describePeers` adds the registered attributes (when it
 * returns attributes, they are the registered ones); an aborted signal
 * rejects with its reason; a directory with no hub rejects with
 * `unavailable` (with `unavailable`), one whose hub is silent with `timeout`
 * (with `silent`).
 */
export async function peerDirectoryCompliance(
  t: TestContext,
  make: (seeds: readonly ExitAttributes[]) => Awaitable<PeerDirectoryFixture>,
): Promise<void> {
  const fixture = () => make(PEER_DIRECTORY_SEEDS);
  let hasUnavailable = false;
  let hasSilent = false;

  await t.step(
    "findNodes with no filters answers every exit, with its routes",
    () =>
      withFixture(fixture, async ({ directory, exits, unavailable, silent }) => {
        hasUnavailable = unavailable !== undefined;
        hasSilent = silent !== undefined;
        assert.equal(exits.length, PEER_DIRECTORY_SEEDS.length, "one exit per seed");
        for (const exit of exits) {
          assert.ok(exit.routes.length > 0, `the fixture gave ${exit.peerId} no route`);
          for (const route of exit.routes) {
            assert.ok(route.endsWith(`/p2p/${exit.peerId}`), `${route} must end in its /p2p/ id`);
          }
        }
        const answer = await directory.findNodes(EVERY_EXIT);
        assertRecordsOf(answer, exits, idsOf(exits), "every exit");
      }),
  );

  await t.step(
    "findNodes answers only the exits matching its filters",
    () =>
      withFixture(fixture, async ({ directory, exits }) => {
        const cases: { filters: ServerFilters; keep: (a: ExitAttributes) => boolean }[] = [
          { filters: { ...NO_FILTERS, country: "SE" }, keep: (a) => a.country === "SE" },
          { filters: { ...NO_FILTERS, hosting: "deny" }, keep: (a) => !a.hosting },
          { filters: { ...NO_FILTERS, hosting: "require" }, keep: (a) => a.hosting },
          {
            filters: { ...NO_FILTERS, country: "SE", hosting: "deny" },
            keep: (a) => a.country === "SE" && !a.hosting,
          },
          { filters: { ...NO_FILTERS, country: "FI" }, keep: () => false },
        ];
        for (const { filters, keep } of cases) {
          const answer = await directory.findNodes({ ...EVERY_EXIT, filters });
          assertRecordsOf(answer, exits, seedsWhere(exits, keep), JSON.stringify(filters));
        }
      }),
  );

  await t.step(
    "findNodes answers at most `limit` exits",
    () =>
      withFixture(fixture, async ({ directory, exits }) => {
        for (const limit of [1, 2]) {
          const answer = await directory.findNodes({ ...EVERY_EXIT, limit });
          assert.equal(answer.length, limit, `limit ${limit}`);
          const known = idsOf(exits);
          for (const id of idsOf(answer)) assert.ok(known.includes(id), `${id} is no exit`);
          assert.equal(new Set(idsOf(answer)).size, limit, "an exit came back twice");
        }
      }),
  );

  await t.step(
    "findNodes leaves out the excluded peers",
    () =>
      withFixture(fixture, async ({ directory, exits, unknown }) => {
        const [first, ...others] = exits;
        const answer = await directory.findNodes({
          ...EVERY_EXIT,
          exclude: [first!.peerId, unknown],
        });
        assertRecordsOf(answer, exits, idsOf(others), "all but the excluded one");
        const none = await directory.findNodes({ ...EVERY_EXIT, exclude: idsOf(exits) });
        assert.deepEqual(none, [], "every exit was excluded");
      }),
  );

  await t.step(
    "findNodes with filters it cannot use rejects with DirectoryError rejected",
    () =>
      withFixture(fixture, async ({ directory }) => {
        const unusable = { ...NO_FILTERS, isp: "[" };
        await assertDirectoryError(
          directory.findNodes({ ...EVERY_EXIT, filters: unusable }),
          "rejected",
          "findNodes with an invalid isp pattern",
        );
      }),
  );

  await t.step(
    "resolvePeers answers the routes of each known id and leaves unknown ids out",
    () =>
      withFixture(fixture, async ({ directory, exits, unknown }) => {
        const [first, second] = exits;
        const asked = [first!.peerId, unknown, second!.peerId, first!.peerId];
        const routes = await directory.resolvePeers(asked);
        assert.ok(routes instanceof Map, "resolvePeers must answer a Map");
        assert.deepEqual([...routes.keys()].sort(), idsOf([first!, second!]));
        for (const exit of [first!, second!]) {
          assert.deepEqual([...routes.get(exit.peerId)!], [...exit.routes], `${exit.peerId}`);
        }
        assert.equal((await directory.resolvePeers([])).size, 0, "no ids, no routes");
      }),
  );

  await t.step(
    "describePeers answers the routes and registered attributes of each known id",
    () =>
      withFixture(fixture, async ({ directory, exits, unknown }) => {
        const described = await directory.describePeers([...exits.map((e) => e.peerId), unknown]);
        assert.ok(described instanceof Map, "describePeers must answer a Map");
        assert.deepEqual([...described.keys()].sort(), idsOf(exits), "an unknown id is absent");
        for (const [index, exit] of exits.entries()) {
          const record = described.get(exit.peerId)!;
          assert.equal(record.peerId, exit.peerId);
          assert.deepEqual([...record.routes], [...exit.routes], `routes of ${exit.peerId}`);
          if (record.attributes !== undefined) {
            assert.deepEqual(
              record.attributes,
              PEER_DIRECTORY_SEEDS[index],
              `attributes of ${exit.peerId} are not the registered ones`,
            );
          }
        }
      }),
  );

  await t.step(
    "an aborted signal rejects each query with its reason",
    () =>
      withFixture(fixture, async ({ directory, exits }) => {
        const reason = new Error("compliance: aborted before asking");
        const ids = exits.map((exit) => exit.peerId);
        const queries: [string, () => Promise<unknown>][] = [
          ["findNodes", () => directory.findNodes(EVERY_EXIT, AbortSignal.abort(reason))],
          ["resolvePeers", () => directory.resolvePeers(ids, AbortSignal.abort(reason))],
          ["describePeers", () => directory.describePeers(ids, AbortSignal.abort(reason))],
        ];
        for (const [name, query] of queries) {
          const outcome = await within(outcomeOf(query()), SETTLE_TIMEOUT_MS, `An aborted ${name}`);
          assert.ok(!outcome.ok, `an aborted ${name} resolved`);
          assert.ok(
            isOrWraps(outcome.error, reason),
            `an aborted ${name} must reject with the signal's reason, got ${outcome.error}`,
          );
        }
      }),
  );

  await t.step({
    name: "a directory with no hub to ask rejects with DirectoryError unavailable",
    ignore: !hasUnavailable,
    fn: () =>
      withFixture(fixture, async ({ unavailable, exits }) => {
        const directory = await unavailable!();
        const ids = exits.map((exit) => exit.peerId);
        await assertDirectoryError(directory.findNodes(EVERY_EXIT), "unavailable", "findNodes");
        await assertDirectoryError(directory.resolvePeers(ids), "unavailable", "resolvePeers");
        await assertDirectoryError(directory.describePeers(ids), "unavailable", "describePeers");
      }),
  });

  await t.step({
    name: "a directory whose hub does not answer rejects with DirectoryError timeout",
    ignore: !hasSilent,
    fn: () =>
      withFixture(fixture, async ({ silent, exits }) => {
        const directory = await silent!();
        const ids = exits.map((exit) => exit.peerId);
        await assertDirectoryError(directory.findNodes(EVERY_EXIT), "timeout", "findNodes");
        await assertDirectoryError(directory.resolvePeers(ids), "timeout", "resolvePeers");
      }),
  });
}
