import assert from "node:assert/strict";
import type { PeerId } from "../../ids.ts";
import type { RelayLimits, RelayServerControl } from "../../ports/relay_server.ts";
import { aPeerId } from "../builders.ts";
import { relayServerCompliance, type RelayServerFixture } from "./relay_server.ts";
import { recordingContext } from "./_recording_context.ts";

/** How an in-memory relay may be broken, one flaw at a time. */
interface Flaws {
  readonly openByDefault?: boolean;
  readonly forgetsPresetLimits?: boolean;
  readonly appliesOnlyOnRenewal?: boolean;
  readonly sharedLimits?: boolean;
  readonly keepsUnsubscribed?: boolean;
  readonly listenerErrorsEscape?: boolean;
  readonly silent?: boolean;
}

/** A relay whose reservations live in a map, as the port describes it, with optional flaws. */
function memoryRelay(flaws: Flaws = {}): RelayServerFixture {
  const defaults: RelayLimits = flaws.openByDefault
    ? { dataLimitBytes: 0, durationLimitMs: 0 }
    : { dataLimitBytes: 131_072, durationLimitMs: 120_000 };
  const reservations = new Map<PeerId, RelayLimits>();
  const overrides = new Map<PeerId, RelayLimits>();
  const listeners = new Set<(peer: PeerId) => void>();
  let next = 100;
  const relay: RelayServerControl = {
    defaultLimits: defaults,
    hasReservation: (peer) => reservations.has(peer),
    reservedPeers: () => [...reservations.keys()],
    reservationLimits: (peer) => reservations.get(peer),
    setPeerLimits(peer, limits) {
      if (flaws.sharedLimits && limits) Object.assign(defaults, limits);
      if (limits === undefined) overrides.delete(peer);
      else overrides.set(peer, limits);
      if (reservations.has(peer) && !flaws.appliesOnlyOnRenewal) {
        reservations.set(peer, limits ?? defaults);
      }
    },
    onReservation(listener) {
      listeners.add(listener);
      return () => void (flaws.keepsUnsubscribed || listeners.delete(listener));
    },
  };
  const reserve = (peer: PeerId) => {
    const preset = flaws.forgetsPresetLimits ? undefined : overrides.get(peer);
    reservations.set(peer, preset ?? defaults);
    if (flaws.silent) return;
    for (const listener of listeners) {
      if (flaws.listenerErrorsEscape) listener(peer);
      else {
        try {
          listener(peer);
        } catch { /* logged by a real relay */ }
      }
    }
  };
  return {
    relay,
    client: () => {
      const peer = aPeerId(next++);
      return Promise.resolve({ peer, reserve: () => Promise.resolve(reserve(peer)) });
    },
  };
}

async function failedSteps(flaws: Flaws): Promise<string[]> {
  const recording = recordingContext();
  await relayServerCompliance(recording.t, () => memoryRelay(flaws));
  return recording.failed();
}

Deno.test("a relay that keeps reservations as the port says passes the relay-server suite", async (t) => {
  await relayServerCompliance(t, () => memoryRelay());
});

Deno.test("the relay-server suite fails a relay for each flaw, in the step about it", async () => {
  assert.deepEqual(await failedSteps({ openByDefault: true }), [
    "the default limits are bounded: the relay is not open to everyone",
  ]);
  assert.deepEqual(await failedSteps({ forgetsPresetLimits: true }), [
    "limits set before a peer reserves apply to the reservation it makes",
  ]);
  assert.deepEqual(await failedSteps({ appliesOnlyOnRenewal: true }), [
    "limits set on a held reservation apply at once; undefined restores the defaults",
  ]);
  assert.deepEqual(await failedSteps({ sharedLimits: true }), [
    "one peer's limits leave every other peer's alone",
  ]);
  assert.deepEqual(await failedSteps({ silent: true }), [
    "a reservation is announced, listed, and gets the default limits",
    "an unsubscribed listener hears nothing more; a throwing one stops no other",
  ]);
  assert.deepEqual(await failedSteps({ keepsUnsubscribed: true }), [
    "an unsubscribed listener hears nothing more; a throwing one stops no other",
  ]);
  assert.deepEqual(await failedSteps({ listenerErrorsEscape: true }), [
    "an unsubscribed listener hears nothing more; a throwing one stops no other",
  ]);
});
