import assert from "node:assert/strict";
import type { ExitAttributes } from "../../domain/attributes.ts";
import type { Multiaddr, PeerId } from "../../ids.ts";
import { DirectoryError, type PeerDirectory } from "../../ports/peer_directory.ts";
import { aDirectAddress, aPeerId } from "../builders.ts";
import { FakeDirectory } from "../fakes.ts";
import { peerDirectoryCompliance, type PeerDirectoryFixture } from "./peer_directory.ts";
import { recordingContext } from "./_recording_context.ts";

/** A directory that fails every query with `error`. */
function failing(error: () => Error): PeerDirectory {
  return {
    findNodes: () => Promise.reject(error()),
    resolvePeers: () => Promise.reject(error()),
    describePeers: () => Promise.reject(error()),
  };
}

/** A FakeDirectory holding the seeds (two routes each), optionally wrapped into a broken one. */
function fakeFixture(
  seeds: readonly ExitAttributes[],
  wrap: (fake: FakeDirectory) => PeerDirectory = (fake) => fake,
): PeerDirectoryFixture {
  const exits = seeds.map((attributes, index) => {
    const peerId = aPeerId(index + 1);
    return { peerId, routes: [aDirectAddress(peerId, 1), aDirectAddress(peerId, 2)], attributes };
  });
  return {
    directory: wrap(new FakeDirectory().setExits(exits)),
    exits,
    unknown: aPeerId(99),
    unavailable: () =>
      failing(() => new DirectoryError("unavailable", "The fake has no hub configured.")),
    silent: () => failing(() => new DirectoryError("timeout", "The fake hub did not answer.")),
  };
}

/** The honest fake with some methods replaced. */
function patched(
  seeds: readonly ExitAttributes[],
  patch: (fake: FakeDirectory) => Partial<PeerDirectory>,
): PeerDirectoryFixture {
  return fakeFixture(seeds, (fake) => ({
    findNodes: (query, signal) => fake.findNodes(query, signal),
    resolvePeers: (ids, signal) => fake.resolvePeers(ids, signal),
    describePeers: (ids, signal) => fake.describePeers(ids, signal),
    ...patch(fake),
  }));
}

Deno.test("FakeDirectory passes the peer directory compliance suite", async (t) => {
  await peerDirectoryCompliance(t, (seeds) => fakeFixture(seeds));
  const recording = recordingContext();
  await peerDirectoryCompliance(recording.t, (seeds) => fakeFixture(seeds));
  assert.deepEqual(recording.ignored(), []);
});

Deno.test("without unavailable and silent their steps are skipped, not failed", async () => {
  const recording = recordingContext();
  await peerDirectoryCompliance(recording.t, (seeds) => {
    const { unavailable: _, silent: __, ...rest } = fakeFixture(seeds);
    return rest;
  });
  assert.deepEqual(recording.failed(), []);
  assert.deepEqual(recording.ignored(), [
    "a directory with no hub to ask rejects with DirectoryError unavailable",
    "a directory whose hub does not answer rejects with DirectoryError timeout",
  ]);
});

Deno.test("the directory suite fails one that ignores exclude (an older hub)", async () => {
  const recording = recordingContext();
  await peerDirectoryCompliance(recording.t, (seeds) =>
    fakeFixture(seeds, (fake) => {
      fake.honoursExclude = false;
      return fake;
    }));
  assert.deepEqual(recording.failed(), ["findNodes leaves out the excluded peers"]);
});

Deno.test("the directory suite fails one that ignores filters or limit", async () => {
  const unfiltered = recordingContext();
  await peerDirectoryCompliance(unfiltered.t, (seeds) =>
    patched(seeds, (fake) => ({
      findNodes: (query, signal) =>
        fake.findNodes({
          ...query,
          filters: { ...query.filters, country: undefined, hosting: "allow" },
        }, signal),
    })));
  assert.deepEqual(unfiltered.failed(), [
    "findNodes answers only the exits matching its filters",
  ]);

  const unlimited = recordingContext();
  await peerDirectoryCompliance(unlimited.t, (seeds) =>
    patched(seeds, (fake) => ({
      findNodes: (query, signal) => fake.findNodes({ ...query, limit: 100 }, signal),
    })));
  assert.deepEqual(unlimited.failed(), ["findNodes answers at most `limit` exits"]);
});

Deno.test("the directory suite fails one that answers unknown ids or wrong attributes", async () => {
  const inventive = recordingContext();
  await peerDirectoryCompliance(inventive.t, (seeds) =>
    patched(seeds, (fake) => ({
      resolvePeers: async (ids, signal) => {
        const routes = await fake.resolvePeers(ids, signal);
        for (const id of ids) if (!routes.has(id)) routes.set(id, [] as Multiaddr[]);
        return routes;
      },
    })));
  assert.deepEqual(inventive.failed(), [
    "resolvePeers answers the routes of each known id and leaves unknown ids out",
  ]);

  const confused = recordingContext();
  await peerDirectoryCompliance(confused.t, (seeds) =>
    patched(seeds, (fake) => ({
      describePeers: async (ids, signal) => {
        const records = await fake.describePeers(ids, signal);
        const first = [...records.values()][0];
        return new Map(
          [...records].map((
            [id, record],
          ) => [id as PeerId, { ...record, attributes: first?.attributes }]),
        );
      },
    })));
  assert.deepEqual(confused.failed(), [
    "describePeers answers the routes and registered attributes of each known id",
  ]);
});

Deno.test("the directory suite fails untyped errors and an ignored signal", async () => {
  const untyped = recordingContext();
  await peerDirectoryCompliance(untyped.t, (seeds) => ({
    ...patched(seeds, (fake) => ({
      findNodes: (query, signal) =>
        fake.findNodes(query, signal).catch((error) =>
          Promise.reject(error === signal?.reason ? error : new Error(error.message))
        ),
    })),
    unavailable: () => failing(() => new Error("No hub.")),
  }));
  assert.deepEqual(untyped.failed(), [
    "findNodes with filters it cannot use rejects with DirectoryError rejected",
    "a directory with no hub to ask rejects with DirectoryError unavailable",
  ]);

  const deaf = recordingContext();
  await peerDirectoryCompliance(deaf.t, (seeds) =>
    patched(seeds, (fake) => ({
      describePeers: (ids) => fake.describePeers(ids),
    })));
  assert.deepEqual(deaf.failed(), ["an aborted signal rejects each query with its reason"]);

  const wrongCode = recordingContext();
  await peerDirectoryCompliance(wrongCode.t, (seeds) => ({
    ...fakeFixture(seeds),
    silent: () => failing(() => new DirectoryError("unavailable", "Gave up on the hub.")),
  }));
  assert.deepEqual(wrongCode.failed(), [
    "a directory whose hub does not answer rejects with DirectoryError timeout",
  ]);
});
