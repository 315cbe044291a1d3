import assert from "node:assert/strict";
import type { PeerId } from "../../core/ids.ts";
import type { SessionRouter } from "../../core/ports/inbound.ts";
import { aPeerId } from "../../core/testing/builders.ts";
import { RecordingSink } from "../../core/testing/fakes.ts";
import { memoryConnectionPair, memoryStreamPair } from "../../core/testing/memory_duplex.ts";
import { relaySession } from "./relay_session.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (chunk: Uint8Array) => new TextDecoder().decode(chunk);

async function readExactly(read: () => Promise<Uint8Array | null>, length: number) {
  let out = new Uint8Array(0);
  while (out.byteLength < length) {
    const chunk = await read();
    if (chunk === null) break;
    out = new Uint8Array([...out, ...chunk]);
  }
  return out;
}

function recordingRouter() {
  const counted: [PeerId, "up" | "down", number][] = [];
  const router: SessionRouter = {
    open: () => Promise.reject(new Error("not used")),
    countBytes: (peer, direction, n) => counted.push([peer, direction, n]),
  };
  return { router, counted };
}

Deno.test("relaySession: the reply first, the early bytes to the exit, then both ways, counted", async () => {
  const [client, door] = memoryConnectionPair();
  const [proxySide, exitSide] = memoryStreamPair();
  const events = new RecordingSink();
  const { router, counted } = recordingRouter();
  const peerId = aPeerId(1);
  const session = relaySession(door, { stream: proxySide, peerId }, { router, events }, {
    reply: () => bytes("OK;"),
    early: bytes("early;"),
    sessionId: "1080-1",
    port: 1080,
    target: "example.test:80",
    idleTimeoutMs: 0,
    signal: AbortSignal.timeout(5_000),
  });

  const clientRead = () => {
    const buffer = new Uint8Array(64);
    return client.read(buffer).then((n) => (n === null ? null : buffer.subarray(0, n)));
  };
  assert.equal(text(await readExactly(clientRead, 3)), "OK;");
  assert.equal(text(await readExactly(() => exitSide.read(), 6)), "early;");
  await client.write(bytes("up"));
  assert.equal(text(await readExactly(() => exitSide.read(), 2)), "up");
  await exitSide.write(bytes("down!"));
  assert.equal(text(await readExactly(clientRead, 5)), "down!");
  await client.closeWrite();
  await exitSide.closeWrite();
  await session;
  client.close();

  assert.deepEqual(events.ofType("session-new"), [
    { type: "session-new", sessionId: "1080-1", port: 1080, target: "example.test:80", peerId },
  ]);
  assert.deepEqual(events.ofType("session-end"), [
    { type: "session-end", sessionId: "1080-1", port: 1080, peerId, bytesUp: 8, bytesDown: 5 },
  ]);
  // The relay counts what it moved; the early bytes went out before it started.
  assert.deepEqual(counted, [[peerId, "up", 2], [peerId, "down", 5]]);
});

Deno.test("relaySession: a reply that cannot be built aborts the stream and starts no session", async () => {
  const [client, door] = memoryConnectionPair();
  const [proxySide, exitSide] = memoryStreamPair();
  const events = new RecordingSink();
  const failures: unknown[] = [];
  const refused = new Error("bad bound address");
  await relaySession(door, { stream: proxySide, peerId: aPeerId(1) }, {
    router: recordingRouter().router,
    events,
  }, {
    reply: () => {
      throw refused;
    },
    early: bytes("early"),
    sessionId: "1080-2",
    port: 1080,
    target: "example.test:80",
    idleTimeoutMs: 0,
    signal: AbortSignal.timeout(5_000),
    onReplyFailed: (error) => failures.push(error),
  });
  client.close();

  assert.deepEqual(failures, [refused]);
  await assert.rejects(exitSide.read(), /bad bound address/);
  assert.deepEqual(events.events, []);
});
