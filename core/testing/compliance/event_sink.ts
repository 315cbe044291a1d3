/**
 * Compliance suite of the `EventSink` port: any sink, built-in or
 * third-party, runs it against itself. Sinks sit on the data plane, so the
 * suite checks they never throw and never hand back a promise.
 *
 * @example
 * ```ts
 * import { eventSinkCompliance } from "@p2proxy/p2proxy/testing";
 *
 * Deno.test("StatsdSink is an EventSink", (t) =>
 *   eventSinkCompliance(t, () => {
 *     const sink = new StatsdSink({ host: "127.0.0.1", port: 0 });
 *     return { sink, cleanup: () => sink.close() };
 *   }));
 * ```
 *
 * @module
 */
import type { TestContext } from "./_test_context.ts";
import assert from "node:assert/strict";
import { aCircuitAddress, aDirectAddress, aPeerId } from "../builders.ts";
import type { P2ProxyEvent, P2ProxyEventType } from "../../events.ts";
import type { EventSink } from "../../ports/event_sink.ts";
import { type Awaitable, isThenable, type Releasable, withFixture } from "./_harness.ts";

/** What an event sink factory hands the suite. */
export interface EventSinkFixture extends Releasable {
  /** The sink under test. */
  readonly sink: EventSink;
}

/** Events emitted back to back in the burst step. */
const BURST_EVENTS = 1_000;

/**
 * Upper bound for the whole burst: 1 ms per event on average. Generous on
 * purpose (this is not a benchmark); it catches a sink that waits on I/O.
 */
const BURST_BUDGET_MS = 1_000;

/** A message far larger than any real one: 1 MiB. */
const HUGE_MESSAGE_CHARS = 1 << 20;

const PEER = aPeerId(1);
const OTHER_PEER = aPeerId(2);

/** One example of every event type; adding an event type without an example fails to compile. */
const EVERY_EVENT: { readonly [T in P2ProxyEventType]: Extract<P2ProxyEvent, { type: T }> } = {
  "local-peer-id": { type: "local-peer-id", peerId: PEER },
  "connection-connecting": { type: "connection-connecting", port: 1080 },
  "connection-connected": {
    type: "connection-connected",
    peerId: PEER,
    address: aDirectAddress(PEER),
    relayed: false,
  },
  "connection-disconnected": { type: "connection-disconnected", peerId: PEER },
  "session-new": {
    type: "session-new",
    sessionId: "s-1",
    port: 1080,
    target: "example.com:443",
    peerId: PEER,
  },
  "session-end": {
    type: "session-end",
    sessionId: "s-1",
    port: 1080,
    peerId: PEER,
    bytesUp: 1_234,
    bytesDown: 56_789,
    error: { stage: "relay", message: "Stream reset by the exit." },
  },
  "bandwidth": { type: "bandwidth", peerId: PEER, up: 1_024, down: 65_536 },
  "account-usage": {
    type: "account-usage",
    account: "alice",
    country: "NL",
    up: 1_024,
    down: 65_536,
    sessions: 1,
    errors: 0,
    refused: 0,
  },
  "error": { type: "error", port: 1080, message: "No exit is available for port 1080." },
  "server-pool": {
    type: "server-pool",
    port: 1080,
    peers: [{ peerId: PEER, addresses: [aDirectAddress(PEER)] }],
  },
  "peer-route": {
    type: "peer-route",
    peerId: OTHER_PEER,
    address: aCircuitAddress(OTHER_PEER),
    relayed: true,
  },
  "active-destination": {
    type: "active-destination",
    port: 1080,
    peerId: PEER,
    source: { kind: "pinned", rank: 0 },
  },
  "pinned-statuses": {
    type: "pinned-statuses",
    port: 1080,
    statuses: [{ peerId: PEER, rank: 0, resolvable: true }, {
      peerId: OTHER_PEER,
      rank: 1,
      resolvable: false,
    }],
  },
  "sticky-pool": {
    type: "sticky-pool",
    port: 1080,
    peers: [{ peerId: PEER, addresses: [] }, { peerId: OTHER_PEER, addresses: [] }],
  },
  "socks-accepted": { type: "socks-accepted", port: 1080 },
  "socks-rejected": { type: "socks-rejected", port: 1080, reason: "no-peer" },
  "jit-discovery": { type: "jit-discovery", port: 1080 },
  "stream-opened": { type: "stream-opened", peerId: PEER, durationMs: 12.5 },
  "stream-open-failed": {
    type: "stream-open-failed",
    peerId: PEER,
    code: "timeout",
    durationMs: 20_000,
  },
  "session-failed": { type: "session-failed", port: 1080, stage: "refused", replyCode: 5 },
  "session-moved": {
    type: "session-moved",
    session: "abc",
    account: "alice",
    from: PEER,
    to: OTHER_PEER,
  },
  "transport-selected": {
    type: "transport-selected",
    peerId: PEER,
    transport: "libp2p",
    reason: "unreachable",
  },
  "ping": { type: "ping", peerId: PEER, rttMs: 3.2 },
  "ping-failed": { type: "ping-failed", peerId: PEER, strikes: 3 },
  "exit-session-start": {
    type: "exit-session-start",
    sessionId: "x-1",
    peerId: OTHER_PEER,
    target: "[2001:db8::1]:443",
  },
  "exit-session-end": {
    type: "exit-session-end",
    sessionId: "x-1",
    peerId: OTHER_PEER,
    bytesUp: 10,
    bytesDown: 20,
  },
  "udp-association-start": {
    type: "udp-association-start",
    side: "proxy",
    sessionId: "1080-3",
    peerId: PEER,
  },
  "udp-association-end": {
    type: "udp-association-end",
    side: "exit",
    sessionId: "1080-3",
    peerId: OTHER_PEER,
    datagramsUp: 4,
    bytesUp: 400,
    datagramsDown: 3,
    bytesDown: 300,
    dropped: 1,
    reason: "idle",
  },
  "hub-registration": {
    type: "hub-registration",
    hub: OTHER_PEER,
    registered: false,
    failures: 2,
    error: "The hub did not answer within 10 s.",
  },
  "hub-stats": {
    type: "hub-stats",
    registeredExits: 2,
    relayReservations: 1,
    raisedRelayLimits: 1,
    expiredExits: 0,
    registrations: 40,
    finds: 7,
    resolves: 3,
    exitsReturned: 12,
    errors: { invalid_argument: 1 },
  },
  "exit-denied": {
    type: "exit-denied",
    peerId: OTHER_PEER,
    target: "169.254.169.254:80",
    reason: "link-local",
  },
};

/** Events at the edges: optional fields missing, empty lists, huge and odd values. */
function edgeCaseEvents(): P2ProxyEvent[] {
  return [
    { type: "connection-connecting" },
    { type: "active-destination", port: 1080 },
    { type: "active-destination", port: 1081, peerId: PEER, source: { kind: "manual" } },
    { type: "error", message: "x".repeat(HUGE_MESSAGE_CHARS) },
    { type: "error", message: "" },
    { type: "error", port: 1080, message: "Ünïcödé \u0000 control \u001b[31m and emoji 🛰️" },
    { type: "server-pool", port: 1080, peers: [] },
    { type: "sticky-pool", port: 65_535, peers: [] },
    { type: "pinned-statuses", port: 1080, statuses: [] },
    { type: "bandwidth", peerId: PEER, up: 0, down: 0 },
    { type: "bandwidth", peerId: PEER, up: Number.MAX_SAFE_INTEGER, down: Number.MAX_SAFE_INTEGER },
    {
      type: "session-end",
      sessionId: "s-2",
      port: 1080,
      peerId: PEER,
      bytesUp: 0,
      bytesDown: 0,
    },
  ];
}

/**
 * Runs the `EventSink` compliance steps: `emit` accepts one event of every
 * type and edge-case events without throwing, returns synchronously (never a
 * promise), and keeps up with a burst of events.
 */
export async function eventSinkCompliance(
  t: TestContext,
  make: () => Awaitable<EventSinkFixture>,
): Promise<void> {
  await t.step(
    "emit accepts every event type and returns synchronously",
    () =>
      withFixture(make, ({ sink }) => {
        for (const event of Object.values(EVERY_EVENT)) emitChecked(sink, event);
        return Promise.resolve();
      }),
  );

  await t.step("emit accepts edge-case events", () =>
    withFixture(make, ({ sink }) => {
      for (const event of edgeCaseEvents()) emitChecked(sink, event);
      return Promise.resolve();
    }));

  await t.step("emit accepts the same event object twice", () =>
    withFixture(make, ({ sink }) => {
      const event = EVERY_EVENT["session-new"];
      emitChecked(sink, event);
      emitChecked(sink, event);
      return Promise.resolve();
    }));

  await t.step(
    `emit keeps up with a burst of ${BURST_EVENTS} events`,
    () =>
      withFixture(make, ({ sink }) => {
        const started = performance.now();
        for (let i = 0; i < BURST_EVENTS; i++) {
          emitChecked(sink, { type: "bandwidth", peerId: PEER, up: i, down: i % 7 });
        }
        const elapsed = performance.now() - started;
        assert.ok(
          elapsed < BURST_BUDGET_MS,
          `${BURST_EVENTS} emits took ${elapsed.toFixed(0)} ms: emit must not wait on I/O`,
        );
        return Promise.resolve();
      }),
  );
}

function emitChecked(sink: EventSink, event: P2ProxyEvent): void {
  let returned: unknown;
  assert.doesNotThrow(() => {
    returned = sink.emit(event);
  }, `emit threw for a "${event.type}" event`);
  assert.ok(!isThenable(returned), `emit returned a promise for a "${event.type}" event`);
}
