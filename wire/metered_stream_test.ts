import assert from "node:assert/strict";
import { memoryStreamPair } from "../core/testing/memory_duplex.ts";
import { meteredStream, type StreamDirection } from "./metered_stream.ts";

Deno.test("metered stream: counts both ways and ends once, when both directions are done", async () => {
  const moved: [StreamDirection, number][] = [];
  let ended = 0;
  const [ours, theirs] = memoryStreamPair();
  const metered = meteredStream(ours, {
    moved: (direction, bytes) => (moved.push([direction, bytes]), 0),
    ended: () => ended++,
  });
  await metered.write(new Uint8Array(3));
  await theirs.write(new Uint8Array(5));
  await theirs.closeWrite();
  assert.equal((await metered.read())?.byteLength, 5);
  assert.equal(await metered.read(), null);
  assert.equal(ended, 0, "our write side is still open");
  await metered.closeWrite();
  assert.equal(ended, 1);
  metered.abort();
  assert.equal(ended, 1, "once");
  assert.deepEqual(moved, [["write", 3], ["read", 5]]);
});

Deno.test("metered stream: a chunk waits as the meter says, and a reset cuts the wait short", async () => {
  const [ours, theirs] = memoryStreamPair();
  let ended = 0;
  const metered = meteredStream(ours, { moved: () => 60_000, ended: () => ended++ });
  await theirs.write(new Uint8Array(1));
  const pending = metered.read();
  let settled = false;
  pending.then(() => (settled = true), () => (settled = true));
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(settled, false, "the chunk waits for its tokens");
  metered.abort(new Error("reset"));
  await assert.rejects(pending, /reset/);
  assert.equal(ended, 1);
  theirs.abort();
});
