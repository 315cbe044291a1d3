import assert from "node:assert/strict";
import { coalesceWrites } from "./coalesced_tcp.ts";

/** A send list shaped like the Uint8ArrayList @libp2p/tcp is given. */
function sendList(...bufs: Uint8Array[]) {
  return {
    bufs,
    byteLength: bufs.reduce((sum, buf) => sum + buf.byteLength, 0),
    subarray() {
      const joined = new Uint8Array(this.byteLength);
      let offset = 0;
      for (const buf of bufs) {
        joined.set(buf, offset);
        offset += buf.byteLength;
      }
      return joined;
    },
  };
}

function recordingConn(accepting = true) {
  const writes: Uint8Array[] = [];
  const conn = {
    socket: {
      write(chunk: Uint8Array) {
        writes.push(chunk.slice());
        return accepting;
      },
    },
    sendData(_data: unknown): { sentBytes: number; canSendMore: boolean } {
      throw new Error("the original sendData should have been replaced");
    },
  };
  return { conn, writes };
}

Deno.test("coalesceWrites: a noise message (length prefix + ciphertext) leaves in one socket write", () => {
  const { conn, writes } = recordingConn();
  const wrapped = coalesceWrites(conn);
  const result = wrapped.sendData(sendList(new Uint8Array([0, 3]), new Uint8Array([7, 8, 9])));
  assert.deepEqual(writes, [new Uint8Array([0, 3, 7, 8, 9])]);
  assert.deepEqual(result, { sentBytes: 5, canSendMore: true });
});

Deno.test("coalesceWrites: one buffer is written as it is, and a full socket says so", () => {
  const { conn, writes } = recordingConn(false);
  const only = new Uint8Array([1, 2, 3, 4]);
  const result = coalesceWrites(conn).sendData(sendList(only));
  assert.deepEqual(writes, [only]);
  assert.deepEqual(result, { sentBytes: 4, canSendMore: false });
});

Deno.test("coalesceWrites: a connection of another shape is left alone", () => {
  const other = { write: () => true };
  assert(coalesceWrites(other) === other);
  assert.deepEqual(Object.keys(other), ["write"]);
  const noSocket = { sendData: () => ({ sentBytes: 0, canSendMore: true }) };
  const original = noSocket.sendData;
  assert(coalesceWrites(noSocket).sendData === original);
});
