import assert from "node:assert/strict";
import type { Multiaddr, PeerId } from "../../ids.ts";
import type { Dialer } from "../../ports/dialer.ts";
import { aDirectAddress, aPeerId } from "../builders.ts";
import { FakeDialer } from "../fakes.ts";
import { dialerCompliance, type DialerFixture } from "./dialer.ts";
import { recordingContext } from "./_recording_context.ts";

const TARGET = aPeerId(1);
const NOBODY = aPeerId(2);

/** FakeDialer reaching TARGET at two addresses; a dead address of TARGET and one of NOBODY. */
function fakeFixture(wrap: (fake: FakeDialer) => Dialer = (fake) => fake): DialerFixture {
  const fake = FakeDialer.reaching(TARGET);
  const dead = aDirectAddress(TARGET, 9);
  fake.deadAddresses.add(dead);
  return {
    dialer: wrap(fake),
    reachable: { peer: TARGET, addresses: [aDirectAddress(TARGET, 1), aDirectAddress(TARGET, 2)] },
    unreachable: [dead, aDirectAddress(NOBODY)],
    shutDown: () => {
      fake.shuttingDown = true;
    },
  };
}

/** The fake with `dialAny` replaced; connection state stays the fake's. */
function withDialAny(
  dialAny: (
    fake: FakeDialer,
    addresses: readonly Multiaddr[],
    signal?: AbortSignal,
  ) => Promise<PeerId>,
): DialerFixture {
  return fakeFixture((fake) => ({
    dialAny: (addresses, signal) => dialAny(fake, addresses, signal),
    isConnected: (peer) => fake.isConnected(peer),
    connectedRoute: (peer) => fake.connectedRoute(peer),
  }));
}

Deno.test("FakeDialer passes the dialer compliance suite", async (t) => {
  await dialerCompliance(t, () => fakeFixture());
  const recording = recordingContext();
  await dialerCompliance(recording.t, () => fakeFixture());
  assert.deepEqual(recording.ignored(), []);
});

Deno.test("without shutDown the shutdown step is skipped, not failed", async () => {
  const recording = recordingContext();
  await dialerCompliance(recording.t, () => {
    const { shutDown: _, ...rest } = fakeFixture();
    return rest;
  });
  assert.deepEqual(recording.failed(), []);
  assert.deepEqual(recording.ignored(), ["after shutdown, a dial rejects with DialError shutdown"]);
});

Deno.test("the dialer suite fails one that tries only the first route", async () => {
  const recording = recordingContext();
  await dialerCompliance(
    recording.t,
    () => withDialAny((fake, addresses, signal) => fake.dialAny(addresses.slice(0, 1), signal)),
  );
  assert.deepEqual(recording.failed(), [
    "races the routes: unreachable ones beside a reachable one do not fail the dial",
  ]);
});

Deno.test("the dialer suite fails one whose errors are not DialErrors", async () => {
  const recording = recordingContext();
  await dialerCompliance(
    recording.t,
    () =>
      withDialAny((fake, addresses, signal) =>
        fake.dialAny(addresses, signal).catch((error) => Promise.reject(new Error(error.message)))
      ),
  );
  assert.deepEqual(recording.failed(), [
    "with no route that connects, rejects with DialError none-connected",
    "an aborted signal rejects the dial and connects nothing",
    "after shutdown, a dial rejects with DialError shutdown",
  ]);
});

Deno.test("the dialer suite fails one that dials despite an aborted signal", async () => {
  const recording = recordingContext();
  await dialerCompliance(
    recording.t,
    () => withDialAny((fake, addresses) => fake.dialAny(addresses)),
  );
  assert.deepEqual(recording.failed(), [
    "an aborted signal rejects the dial and connects nothing",
  ]);
});

Deno.test("the dialer suite fails one that reports the wrong peer or no connection", async () => {
  const wrongPeer = recordingContext();
  await dialerCompliance(wrongPeer.t, () =>
    withDialAny(async (fake, addresses, signal) => {
      await fake.dialAny(addresses, signal);
      return NOBODY;
    }));
  assert.ok(
    wrongPeer.failed().includes(
      "dials a reachable peer, which is then connected, with a route to it",
    ),
    wrongPeer.failed().join(),
  );

  const forgetful = recordingContext();
  await dialerCompliance(forgetful.t, () =>
    fakeFixture((fake) => ({
      dialAny: (addresses, signal) => fake.dialAny(addresses, signal),
      isConnected: () => false,
      connectedRoute: (peer) => fake.connectedRoute(peer),
    })));
  assert.deepEqual(forgetful.failed(), [
    "dials a reachable peer, which is then connected, with a route to it",
    "concurrent dials to one peer all resolve with it",
  ]);
});

Deno.test("the dialer suite fails one that keeps dialing during shutdown", async () => {
  const recording = recordingContext();
  await dialerCompliance(recording.t, () => {
    const fixture = fakeFixture();
    return { ...fixture, shutDown: () => {} };
  });
  assert.deepEqual(recording.failed(), ["after shutdown, a dial rejects with DialError shutdown"]);
});
