import assert from "node:assert/strict";
import { DatagramQueue } from "./datagram_queue.ts";

/** A writer the test releases one write at a time. */
function gatedWriter() {
  const written: number[] = [];
  const gates: Array<() => void> = [];
  const write = (datagram: Uint8Array) =>
    new Promise<void>((resolve) => {
      gates.push(() => {
        written.push(datagram[0]!);
        resolve();
      });
    });
  const release = async () => {
    while (gates.length === 0) await Promise.resolve();
    gates.shift()!();
    await new Promise((resolve) => setTimeout(resolve, 0));
  };
  return { written, write, release };
}

Deno.test("DatagramQueue writes in order and drops what passes the byte bound", async () => {
  const writer = gatedWriter();
  const queue = new DatagramQueue(writer.write, 10);
  assert.equal(queue.offer(new Uint8Array(4).fill(1)), true);
  assert.equal(queue.offer(new Uint8Array(4).fill(2)), true);
  assert.equal(queue.offer(new Uint8Array(4).fill(3)), false, "12 bytes would wait");
  assert.equal(queue.bufferedBytes, 8);
  await writer.release();
  assert.equal(queue.bufferedBytes, 4, "a written datagram no longer counts");
  assert.equal(queue.offer(new Uint8Array(4).fill(4)), true);
  await writer.release();
  await writer.release();
  assert.deepEqual(writer.written, [1, 2, 4]);
  assert.equal(queue.bufferedBytes, 0);
});

Deno.test("DatagramQueue fails on a rejected write and accepts nothing after it or close", async () => {
  const failure = new Error("stream reset");
  const queue = new DatagramQueue(() => Promise.reject(failure), 100);
  assert.equal(queue.offer(Uint8Array.of(1)), true);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(queue.failure, failure);
  assert.equal(queue.offer(Uint8Array.of(2)), false);
  const closed = new DatagramQueue(() => Promise.resolve(), 100);
  closed.close();
  assert.equal(closed.offer(Uint8Array.of(1)), false);
});
