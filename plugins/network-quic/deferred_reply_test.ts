/**
 * The exit's held-back stream reply (deferred_reply.ts), over a recording stream: what goes out
 * in which write. (The real QUIC path is covered by lazy_reply_test.ts and tests/quic_test.ts.)
 */
import assert from "node:assert/strict";
import type { DuplexStream } from "../../core/ports/stream_opener.ts";
import { deferredReply } from "./deferred_reply.ts";

const REPLY = new Uint8Array([0xaa, 0xbb]);

/** A stream that records every write and serves `incoming` to reads. */
function recording(incoming: Uint8Array[] = []) {
  const writes: Uint8Array[] = [];
  const events: string[] = [];
  const stream: DuplexStream = {
    read() {
      events.push("read");
      return Promise.resolve(incoming.shift() ?? null);
    },
    write(chunk) {
      events.push("write");
      writes.push(chunk.slice());
      return Promise.resolve();
    },
    closeWrite() {
      events.push("closeWrite");
      return Promise.resolve();
    },
    abort() {
      events.push("abort");
    },
  };
  return { stream, writes, events };
}

Deno.test("the reply rides in front of the handler's first write, in the same write", async () => {
  const { stream, writes } = recording();
  const wrapped = deferredReply(stream, REPLY, new Uint8Array());
  await wrapped.write(new Uint8Array([1, 2]));
  await wrapped.write(new Uint8Array([3]));
  assert.deepEqual(writes, [new Uint8Array([0xaa, 0xbb, 1, 2]), new Uint8Array([3])]);
});

Deno.test("bytes that came behind the header are read without sending the reply", async () => {
  const { stream, writes, events } = recording();
  const wrapped = deferredReply(stream, REPLY, new Uint8Array([7, 8, 9]));
  assert.deepEqual(await wrapped.read(), new Uint8Array([7, 8, 9]));
  assert.deepEqual(writes, [], "the request was already here: nothing to wait for");
  assert.deepEqual(events, []);
  await wrapped.write(new Uint8Array([1]));
  assert.deepEqual(writes, [new Uint8Array([0xaa, 0xbb, 1])]);
});

Deno.test("a read that must wait on the network sends the reply first", async () => {
  const { stream, writes, events } = recording([new Uint8Array([5])]);
  const wrapped = deferredReply(stream, REPLY, new Uint8Array());
  assert.deepEqual(await wrapped.read(), new Uint8Array([5]));
  assert.deepEqual(writes, [REPLY]);
  assert.deepEqual(events, ["write", "read"], "the reply went out before the read waited");
  await wrapped.write(new Uint8Array([1]));
  assert.deepEqual(writes, [REPLY, new Uint8Array([1])], "the reply is sent once");
});

Deno.test("closeWrite without a write sends the reply, then closes", async () => {
  const { stream, writes, events } = recording();
  const wrapped = deferredReply(stream, REPLY, new Uint8Array());
  await wrapped.closeWrite();
  assert.deepEqual(writes, [REPLY]);
  assert.deepEqual(events, ["write", "closeWrite"]);
});
