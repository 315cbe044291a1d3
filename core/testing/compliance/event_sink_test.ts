import assert from "node:assert/strict";
import type { P2ProxyEvent, P2ProxyEventType } from "../../events.ts";
import { type EventSink, fanOut, NULL_SINK } from "../../ports/event_sink.ts";
import { RecordingSink } from "../fakes.ts";
import { eventSinkCompliance } from "./event_sink.ts";
import { recordingContext } from "./_recording_context.ts";

Deno.test("RecordingSink passes the event sink compliance suite", async (t) => {
  const sink = new RecordingSink();
  await eventSinkCompliance(t, () => ({ sink }));
  const types = new Set(sink.events.map((event) => event.type));
  const everyType: Record<P2ProxyEventType, true> = {
    "local-peer-id": true,
    "connection-connecting": true,
    "connection-connected": true,
    "connection-disconnected": true,
    "session-new": true,
    "session-end": true,
    "bandwidth": true,
    "account-usage": true,
    "error": true,
    "server-pool": true,
    "peer-route": true,
    "active-destination": true,
    "pinned-statuses": true,
    "sticky-pool": true,
    "socks-accepted": true,
    "socks-rejected": true,
    "jit-discovery": true,
    "session-moved": true,
    "stream-opened": true,
    "stream-open-failed": true,
    "transport-selected": true,
    "ping": true,
    "ping-failed": true,
    "exit-session-start": true,
    "exit-session-end": true,
    "exit-denied": true,
    "udp-association-start": true,
    "udp-association-end": true,
    "session-failed": true,
    "hub-registration": true,
    "hub-stats": true,
  };
  assert.deepEqual([...types].sort(), Object.keys(everyType).sort(), "one event of every type");
});

Deno.test("NULL_SINK and fanOut pass the event sink compliance suite", async (t) => {
  await eventSinkCompliance(t, () => ({ sink: NULL_SINK }));
  await eventSinkCompliance(t, () => ({ sink: fanOut(new RecordingSink(), NULL_SINK) }));
});

Deno.test("the event sink suite fails a sink that throws on some event", async () => {
  const recording = recordingContext();
  const sink: EventSink = {
    emit(event: P2ProxyEvent) {
      if (event.type === "pinned-statuses") throw new Error("boom");
    },
  };
  await eventSinkCompliance(recording.t, () => ({ sink }));
  assert.deepEqual(recording.failed(), [
    "emit accepts every event type and returns synchronously",
    "emit accepts edge-case events",
  ]);
});

Deno.test("the event sink suite fails a sink that returns a promise", async () => {
  const recording = recordingContext();
  const sink = { emit: (_event: P2ProxyEvent) => Promise.resolve() } as unknown as EventSink;
  await eventSinkCompliance(recording.t, () => ({ sink }));
  assert.equal(recording.failed().length, 4);
});
