import assert from "node:assert/strict";
import type { ClientConnection } from "../core/ports/inbound.ts";
import { prefixedConn } from "./prefixed_conn.ts";

/** A connection whose reads return `rest` once, then EOF. */
function connectionOf(rest: Uint8Array): ClientConnection {
  let done = false;
  return {
    read(buffer) {
      if (done) return Promise.resolve(null);
      done = true;
      buffer.set(rest);
      return Promise.resolve(rest.byteLength);
    },
    write: (chunk) => Promise.resolve(chunk.byteLength),
    closeWrite: () => Promise.resolve(),
    close: () => {},
    remoteAddr: { hostname: "127.0.0.9", port: 4321 },
    localAddr: { hostname: "127.0.0.1", port: 1080 },
  };
}

Deno.test("a prefixed connection reads the peeked bytes first and keeps both addresses", async () => {
  const conn = prefixedConn(connectionOf(new Uint8Array([2, 3])), new Uint8Array([5, 1]));
  const buffer = new Uint8Array(8);
  assert.equal(await conn.read(buffer.subarray(0, 1)), 1);
  assert.equal(await conn.read(buffer.subarray(1)), 1);
  assert.equal(await conn.read(buffer.subarray(2)), 2);
  assert.deepEqual([...buffer.subarray(0, 4)], [5, 1, 2, 3]);
  assert.equal(await conn.read(buffer), null);
  // A UDP association on a mixed port serves only the client's host: it must still see it.
  assert.deepEqual(conn.remoteAddr, { hostname: "127.0.0.9", port: 4321 });
  assert.deepEqual(conn.localAddr, { hostname: "127.0.0.1", port: 1080 });
});
