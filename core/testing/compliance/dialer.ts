/**
 * Compliance suite of the `Dialer` port: any network that dials peers (the
 * libp2p plugin, a fake, another transport) runs it against itself with one
 * peer it can reach and some addresses where nothing answers.
 *
 * @example
 * ```ts
 * import { dialerCompliance } from "@p2proxy/p2proxy/testing";
 *
 * Deno.test("MyNetwork is a Dialer", (t) =>
 *   dialerCompliance(t, async () => {
 *     const [node, target] = await startTwoNodes();
 *     return {
 *       dialer: node,
 *       reachable: { peer: target.peerId, addresses: target.addresses() },
 *       unreachable: [closedPortAddress()],
 *       shutDown: () => node.stop(),
 *       cleanup: () => stopAll(node, target),
 *     };
 *   }));
 * ```
 *
 * @module
 */
import type { TestContext } from "./_test_context.ts";
import assert from "node:assert/strict";
import {
  asPeerId,
  isRelayedAddress,
  type Multiaddr,
  type PeerId,
  peerIdOfAddress,
} from "../../ids.ts";
import { type Dialer, DialError, type DialErrorCode } from "../../ports/dialer.ts";
import {
  type Awaitable,
  outcomeOf,
  type Releasable,
  SETTLE_TIMEOUT_MS,
  withFixture,
  within,
} from "./_harness.ts";

/** What a dialer factory hands the suite: a started dialer and where it can and cannot connect. */
export interface DialerFixture extends Releasable {
  /** The dialer under test, started, connected to nobody yet. */
  readonly dialer: Dialer;
  /** A peer the dialer can reach, and its addresses (each ending in `/p2p/<peer>`). */
  readonly reachable: { readonly peer: PeerId; readonly addresses: readonly Multiaddr[] };
  /**
   * Addresses, each ending in `/p2p/<id>`, where nothing answers (a closed
   * port, a peer that does not exist); at least one. They must fail quickly
   * (refused, not silently dropped), or the race step waits for the dial deadline.
   */
  readonly unreachable: readonly Multiaddr[];
  /**
   * Starts the dialer's shutdown (e.g. stops its node), for the shutdown
   * step; leave it out to skip that step.
   */
  readonly shutDown?: () => Awaitable<void>;
}

/** Concurrent dials in the concurrency step. */
const CONCURRENT_DIALS = 3;

/** An id no dialer knows, in a form that is not a peer id at all. */
const NOT_A_PEER_ID = asPeerId("not-a-peer-id");

async function assertDialError(
  promise: Promise<unknown>,
  code: DialErrorCode,
): Promise<DialError> {
  const outcome = await within(outcomeOf(promise), SETTLE_TIMEOUT_MS * 4, "The dial");
  assert.ok(!outcome.ok, `the dial resolved with ${outcome.ok && outcome.value}; expected ${code}`);
  const { error } = outcome;
  assert.ok(error instanceof DialError, `expected a DialError ${code}, got ${error}`);
  assert.equal(error.code, code, error.message);
  assert.ok(error.message.length > 0, "the error says nothing");
  return error;
}

/**
 * Runs the `Dialer` compliance steps: a reachable peer dials and is then
 * connected, with a route to it (direct before relayed); unreachable routes
 * raced beside a reachable one do not fail the dial; concurrent dials to one
 * peer all land; with no route that connects (or none at all) the dial
 * rejects with `DialError` `none-connected` and nobody is connected; an
 * aborted signal rejects the dial (with its reason or a `DialError`) and
 * connects nothing; after shutdown every dial rejects with `DialError`
 * `shutdown` (with `shutDown`). An id that is not a peer id is simply not
 * connected.
 */
export async function dialerCompliance(
  t: TestContext,
  make: () => Awaitable<DialerFixture>,
): Promise<void> {
  let canShutDown = false;
  await t.step(
    "dials a reachable peer, which is then connected, with a route to it",
    () =>
      withFixture(make, async ({ dialer, reachable, shutDown }) => {
        canShutDown = shutDown !== undefined;
        assert.equal(dialer.isConnected(reachable.peer), false, "connected before any dial");
        assert.equal(dialer.connectedRoute(reachable.peer), undefined);
        const peer = await within(
          dialer.dialAny(reachable.addresses),
          SETTLE_TIMEOUT_MS,
          "A dial to the reachable peer",
        );
        assert.equal(peer, reachable.peer, "dialAny must resolve with the peer that connected");
        assert.equal(dialer.isConnected(peer), true, "not connected after a dial resolved");
        const route = dialer.connectedRoute(peer);
        assert.ok(route, "a connected peer has a route");
        assert.ok(
          route.address.endsWith(`/p2p/${peer}`),
          `the route ${route.address} must end in /p2p/${peer}`,
        );
        assert.equal(route.relayed, isRelayedAddress(route.address), "relayed says what it is");
        assert.equal(
          await dialer.dialAny(reachable.addresses),
          peer,
          "a dial to a connected peer resolves with it again",
        );
      }),
  );

  await t.step(
    "an id that is not a peer id is not connected, and has no route",
    () =>
      withFixture(make, ({ dialer }) => {
        assert.equal(dialer.isConnected(NOT_A_PEER_ID), false);
        assert.equal(dialer.connectedRoute(NOT_A_PEER_ID), undefined);
        return Promise.resolve();
      }),
  );

  await t.step(
    "races the routes: unreachable ones beside a reachable one do not fail the dial",
    () =>
      withFixture(make, async ({ dialer, reachable, unreachable }) => {
        for (
          const addresses of [[...unreachable, ...reachable.addresses], [
            ...reachable.addresses,
            ...unreachable,
          ]]
        ) {
          const peer = await within(dialer.dialAny(addresses), SETTLE_TIMEOUT_MS, "A mixed dial");
          assert.equal(peer, reachable.peer);
        }
      }),
  );

  await t.step(
    "concurrent dials to one peer all resolve with it",
    () =>
      withFixture(make, async ({ dialer, reachable }) => {
        const dials = Array.from(
          { length: CONCURRENT_DIALS },
          () => dialer.dialAny(reachable.addresses),
        );
        const peers = await within(Promise.all(dials), SETTLE_TIMEOUT_MS, "Concurrent dials");
        assert.deepEqual(peers, dials.map(() => reachable.peer));
        assert.equal(dialer.isConnected(reachable.peer), true);
      }),
  );

  await t.step(
    "with no route that connects, rejects with DialError none-connected",
    () =>
      withFixture(make, async ({ dialer, unreachable }) => {
        await assertDialError(dialer.dialAny(unreachable), "none-connected");
        await assertDialError(dialer.dialAny([]), "none-connected");
        for (const address of unreachable) {
          const peer = peerIdOfAddress(address);
          assert.ok(peer, `the unreachable address ${address} must end in /p2p/<id>`);
          assert.equal(dialer.isConnected(peer), false, `${peer} counts as connected`);
        }
      }),
  );

  await t.step(
    "an aborted signal rejects the dial and connects nothing",
    () =>
      withFixture(make, async ({ dialer, reachable }) => {
        const reason = new Error("compliance: aborted before dialing");
        const outcome = await within(
          outcomeOf(dialer.dialAny(reachable.addresses, AbortSignal.abort(reason))),
          SETTLE_TIMEOUT_MS,
          "An aborted dial",
        );
        assert.ok(!outcome.ok, "an aborted dial resolved");
        assert.ok(
          outcome.error === reason || outcome.error instanceof DialError,
          `expected the signal's reason or a DialError, got ${outcome.error}`,
        );
        assert.equal(dialer.isConnected(reachable.peer), false, "an aborted dial connected");
      }),
  );

  await t.step({
    name: "after shutdown, a dial rejects with DialError shutdown",
    ignore: !canShutDown,
    fn: () =>
      withFixture(make, async ({ dialer, reachable, shutDown }) => {
        await shutDown!();
        await assertDialError(dialer.dialAny(reachable.addresses), "shutdown");
      }),
  });
}
