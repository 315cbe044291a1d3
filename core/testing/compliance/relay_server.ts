/**
 * Compliance suite of the `RelayServerControl` port: the circuit relay a hub's `network` provider
 * runs (`NetworkNode.relayServer`), which the hub uses to keep the relay closed to strangers and
 * open to registered exits (docs/hub-behaviour.md#circuit-relay). A `network` plugin that runs a
 * relay runs this suite against it: bounded default limits, reservations seen, listed and
 * announced, per-peer limits applied at once and to reservations made later, and listeners that
 * unsubscribe or throw.
 *
 * @example
 * ```ts
 * import { relayServerCompliance } from "@p2proxy/p2proxy/testing";
 *
 * Deno.test("my transport's relay", (t) =>
 *   relayServerCompliance(t, async () => {
 *     const hub = await startMyHubNode({ relayServer: { defaultDataLimitBytes: 131_072 } });
 *     return {
 *       relay: hub.relayServer!,
 *       client: async () => {
 *         const identity = await newIdentity();
 *         return { peer: identity.peerId, reserve: () => listenThroughRelay(identity, hub) };
 *       },
 *       cleanup: () => hub.stop(),
 *     };
 *   }));
 * ```
 *
 * @module
 */
import assert from "node:assert/strict";
import type { TestContext } from "./_test_context.ts";
import type { PeerId } from "../../ids.ts";
import type { RelayLimits, RelayServerControl } from "../../ports/relay_server.ts";
import {
  type Awaitable,
  eventually,
  type Releasable,
  SETTLE_TIMEOUT_MS,
  withFixture,
} from "./_harness.ts";

/** A peer that may take a reservation on the relay under test. */
export interface RelayClient {
  /** Its peer id, known before it reserves. */
  readonly peer: PeerId;
  /** Takes a reservation on the relay (e.g. listens on `<relay>/p2p-circuit`). */
  reserve(): Promise<void>;
}

/** What a relay factory hands the suite. */
export interface RelayServerFixture extends Releasable {
  /** The running relay's control. */
  readonly relay: RelayServerControl;
  /** A new peer holding no reservation yet; released with the fixture. */
  client(): Promise<RelayClient>;
}

/** Limits a registered exit might get: 0 is unlimited. */
const UNLIMITED: RelayLimits = { dataLimitBytes: 0, durationLimitMs: 0 };
/** Limits neither 0 nor the defaults. */
const RAISED: RelayLimits = { dataLimitBytes: 64 * 1024 * 1024, durationLimitMs: 600_000 };

/** Takes a reservation for `client` and waits until the relay holds it. */
async function reserved(relay: RelayServerControl, client: RelayClient): Promise<void> {
  await client.reserve();
  await eventually(
    () => relay.hasReservation(client.peer),
    SETTLE_TIMEOUT_MS,
    `The relay holding ${client.peer}'s reservation`,
  );
}

/**
 * Runs the `RelayServerControl` compliance steps against fresh fixtures from `make`: bounded
 * defaults, a stranger without a reservation, a reservation listed and announced with the default
 * limits, limits raised and restored on a held reservation, limits set ahead applied when the peer
 * reserves, one peer's limits leaving another's alone, and listeners that unsubscribe or throw.
 */
export async function relayServerCompliance(
  t: TestContext,
  make: () => Awaitable<RelayServerFixture>,
): Promise<void> {
  await t.step(
    "the default limits are bounded: the relay is not open to everyone",
    () =>
      withFixture(make, ({ relay }) => {
        const { dataLimitBytes, durationLimitMs } = relay.defaultLimits;
        assert.ok(Number.isSafeInteger(dataLimitBytes) && dataLimitBytes > 0, `${dataLimitBytes}`);
        assert.ok(
          Number.isSafeInteger(durationLimitMs) && durationLimitMs > 0,
          `${durationLimitMs}`,
        );
        return Promise.resolve();
      }),
  );

  await t.step(
    "a peer without a reservation has none, and setting its limits makes none",
    () =>
      withFixture(make, async ({ relay, client }) => {
        const stranger = await client();
        assert.equal(relay.hasReservation(stranger.peer), false);
        assert.equal(relay.reservationLimits(stranger.peer), undefined);
        assert.ok(!relay.reservedPeers().includes(stranger.peer));
        relay.setPeerLimits(stranger.peer, UNLIMITED);
        relay.setPeerLimits(stranger.peer, undefined);
        assert.equal(relay.hasReservation(stranger.peer), false);
        const garbage = "not-a-peer-id" as PeerId;
        assert.equal(relay.hasReservation(garbage), false, "an unparsable id holds nothing");
        assert.equal(relay.reservationLimits(garbage), undefined);
      }),
  );

  await t.step(
    "a reservation is announced, listed, and gets the default limits",
    () =>
      withFixture(make, async ({ relay, client }) => {
        const heard: PeerId[] = [];
        const unsubscribe = relay.onReservation((peer) => heard.push(peer));
        try {
          const exit = await client();
          await reserved(relay, exit);
          await eventually(() => heard.includes(exit.peer), SETTLE_TIMEOUT_MS, "onReservation");
          assert.ok(relay.reservedPeers().includes(exit.peer), "reservedPeers() lists it");
          assert.deepEqual(relay.reservationLimits(exit.peer), relay.defaultLimits);
        } finally {
          unsubscribe();
        }
      }),
  );

  await t.step(
    "limits set on a held reservation apply at once; undefined restores the defaults",
    () =>
      withFixture(make, async ({ relay, client }) => {
        const exit = await client();
        await reserved(relay, exit);
        relay.setPeerLimits(exit.peer, UNLIMITED);
        assert.deepEqual(relay.reservationLimits(exit.peer), UNLIMITED);
        relay.setPeerLimits(exit.peer, RAISED);
        assert.deepEqual(relay.reservationLimits(exit.peer), RAISED);
        relay.setPeerLimits(exit.peer, undefined);
        assert.deepEqual(relay.reservationLimits(exit.peer), relay.defaultLimits);
      }),
  );

  await t.step(
    "limits set before a peer reserves apply to the reservation it makes",
    () =>
      withFixture(make, async ({ relay, client }) => {
        const exit = await client();
        relay.setPeerLimits(exit.peer, UNLIMITED);
        await reserved(relay, exit);
        assert.deepEqual(relay.reservationLimits(exit.peer), UNLIMITED);
      }),
  );

  await t.step(
    "one peer's limits leave every other peer's alone",
    () =>
      withFixture(make, async ({ relay, client }) => {
        const defaults = { ...relay.defaultLimits };
        const exit = await client();
        const stranger = await client();
        await reserved(relay, exit);
        await reserved(relay, stranger);
        relay.setPeerLimits(exit.peer, UNLIMITED);
        assert.deepEqual(relay.reservationLimits(stranger.peer), defaults);
        assert.deepEqual({ ...relay.defaultLimits }, defaults, "the defaults changed");
      }),
  );

  await t.step(
    "an unsubscribed listener hears nothing more; a throwing one stops no other",
    () =>
      withFixture(make, async ({ relay, client }) => {
        const heard: PeerId[] = [];
        const gone: PeerId[] = [];
        const unsubscribeThrowing = relay.onReservation(() => {
          throw new Error("compliance: a listener failed");
        });
        const unsubscribeHeard = relay.onReservation((peer) => heard.push(peer));
        relay.onReservation((peer) => gone.push(peer))();
        try {
          const exit = await client();
          await reserved(relay, exit);
          await eventually(() => heard.includes(exit.peer), SETTLE_TIMEOUT_MS, "onReservation");
          assert.deepEqual(gone, [], "a listener that unsubscribed was called");
        } finally {
          unsubscribeThrowing();
          unsubscribeHeard();
        }
      }),
  );
}
