import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { encodeFrame, FrameDecoder } from "../core/codec/frame.ts";
import { memoryStreamPair } from "../core/testing/memory_duplex.ts";
import type { DuplexStream } from "../core/ports/stream_opener.ts";
import {
  type DirectoryRequest,
  DirectoryRequestSchema,
  DirectoryResponseSchema,
} from "../proto/gen/p2proxy/directory/v1/directory_pb.ts";
import { MAX_PIPELINED_REQUESTS } from "./directory_protocol.ts";
import { DirectorySession, SessionEnded } from "./directory_session.ts";

function find(limit: number): DirectoryRequest {
  return create(DirectoryRequestSchema, { request: { case: "findNodes", value: { limit } } });
}

/** A scripted hub: reads requests; `answer(n)` answers the n oldest unanswered ones, in order. */
function scriptedHub(stream: DuplexStream) {
  const decoder = new FrameDecoder();
  const received: DirectoryRequest[] = [];
  let answered = 0;
  const reading = (async () => {
    for (;;) {
      const chunk = await stream.read().catch(() => null);
      if (chunk === null) return;
      for (const frame of decoder.push(chunk)) {
        received.push(fromBinary(DirectoryRequestSchema, frame));
      }
    }
  })();
  return {
    received,
    reading,
    async answer(count: number) {
      for (let i = 0; i < count; i++) {
        const request = received[answered++]!;
        const limit = request.request.case === "findNodes" ? request.request.value.limit : 0;
        // The answer names its request by echoing the limit as the heartbeat.
        await stream.write(encodeFrame(toBinary(
          DirectoryResponseSchema,
          create(DirectoryResponseSchema, {
            response: { case: "register", value: { heartbeatSecs: limit, message: "" } },
          }),
        )));
      }
    },
  };
}

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function echoed(response: { response: { case?: string; value?: unknown } }): number {
  assert.equal(response.response.case, "register");
  return (response.response.value as { heartbeatSecs: number }).heartbeatSecs;
}

Deno.test("DirectorySession pipelines requests and matches answers to them in order", async () => {
  const [client, server] = memoryStreamPair();
  const hub = scriptedHub(server);
  const session = new DirectorySession(client);
  const signal = AbortSignal.timeout(5_000);
  const asked = [1, 2, 3].map((n) => session.ask(find(n), signal));
  await until(() => hub.received.length === 3);
  assert.equal(session.pending, 3, "all three were sent before any answer");
  await hub.answer(3);
  assert.deepEqual((await Promise.all(asked)).map(echoed), [1, 2, 3]);
  session.close();
  await hub.reading;
});

Deno.test("DirectorySession sends at most MAX_PIPELINED_REQUESTS before an answer", async () => {
  const [client, server] = memoryStreamPair();
  const hub = scriptedHub(server);
  const session = new DirectorySession(client);
  const signal = AbortSignal.timeout(5_000);
  const asked = Array.from(
    { length: MAX_PIPELINED_REQUESTS + 5 },
    (_, n) => session.ask(find(n), signal),
  );
  await until(() => hub.received.length === MAX_PIPELINED_REQUESTS);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(hub.received.length, MAX_PIPELINED_REQUESTS, "the rest wait for a slot");
  await hub.answer(5);
  await until(() => hub.received.length === MAX_PIPELINED_REQUESTS + 5);
  await hub.answer(MAX_PIPELINED_REQUESTS);
  const answers = (await Promise.all(asked)).map(echoed);
  assert.deepEqual(answers, Array.from({ length: MAX_PIPELINED_REQUESTS + 5 }, (_, n) => n));
  session.close();
  await hub.reading;
});

Deno.test("DirectorySession ends on a hub close or a caller's abort; waiting requests fail as SessionEnded", async (t) => {
  await t.step("the hub closing fails what was not answered", async () => {
    const [client, server] = memoryStreamPair();
    const hub = scriptedHub(server);
    const session = new DirectorySession(client);
    const signal = AbortSignal.timeout(5_000);
    const first = session.ask(find(1), signal);
    const second = session.ask(find(2), signal);
    await until(() => hub.received.length === 2);
    await hub.answer(1);
    await server.closeWrite();
    assert.equal(echoed(await first), 1);
    await assert.rejects(second, SessionEnded);
    assert.ok(session.ended);
    await assert.rejects(session.ask(find(3), signal), SessionEnded);
    server.abort();
    await hub.reading;
  });

  await t.step("an abort rejects that caller and ends the session", async () => {
    const [client, server] = memoryStreamPair();
    const hub = scriptedHub(server);
    const session = new DirectorySession(client);
    const caller = new AbortController();
    const mine = session.ask(find(1), caller.signal);
    const other = session.ask(find(2), AbortSignal.timeout(5_000));
    await until(() => hub.received.length === 2);
    const reason = new Error("the proxy gave up");
    caller.abort(reason);
    await assert.rejects(mine, SessionEnded);
    // Answers are ordered: without the first, the second cannot be matched, so it ends too.
    await assert.rejects(other, SessionEnded);
    assert.ok(session.ended);
    await hub.reading;
  });

  await t.step("an answer nobody asked for ends the session", async () => {
    const [client, server] = memoryStreamPair();
    const session = new DirectorySession(client);
    await server.write(
      encodeFrame(toBinary(DirectoryResponseSchema, create(DirectoryResponseSchema))),
    );
    await until(() => session.ended);
    await assert.rejects(session.ask(find(1), AbortSignal.timeout(5_000)), SessionEnded);
    server.abort();
  });
});
