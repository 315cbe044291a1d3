import assert from "node:assert/strict";
import { isP2proxyError } from "../core/errors.ts";
import { memoryConnectionPair, memoryStreamPair } from "../core/testing/memory_duplex.ts";
import type { DuplexStream } from "../core/ports/stream_opener.ts";
import fc from "fast-check";
import {
  IDLE_TIMEOUT_CODE,
  nextReadBytes,
  relay,
  RELAY_MIN_READ_BYTES,
  RELAY_READ_BUDGET_BYTES,
  RELAY_READ_BYTES,
  relayReadCap,
} from "./relay.ts";

const encode = (text: string) => new TextEncoder().encode(text);

async function readText(conn: { read(buffer: Uint8Array): Promise<number | null> }) {
  const buffer = new Uint8Array(64);
  const n = await conn.read(buffer);
  return n === null ? null : new TextDecoder().decode(buffer.subarray(0, n));
}

Deno.test("the relay copies both ways with half-close and counts the bytes", async () => {
  const [client, tcp] = memoryConnectionPair();
  const [stream, exit] = memoryStreamPair();
  const counted: string[] = [];
  const running = relay(tcp, stream, {
    onBytes: (direction, n) => counted.push(`${direction} ${n}`),
  });
  await client.write(encode("hello"));
  assert.equal(new TextDecoder().decode((await exit.read())!), "hello");
  await client.closeWrite();
  assert.equal(await exit.read(), null, "the client's EOF closes only the stream's write side");
  await exit.write(encode("world"));
  assert.equal(await readText(client), "world", "the other direction keeps flowing");
  await exit.closeWrite();
  assert.equal(await readText(client), null);
  const result = await running;
  assert.deepEqual([result.bytesFromTcp, result.bytesFromStream, result.error], [5, 5, undefined]);
  assert.deepEqual(counted, ["fromTcp 5", "fromStream 5"]);
});

Deno.test("an idle relay ends with the idle-timeout code and resets both sides", async () => {
  const [client, tcp] = memoryConnectionPair();
  const [stream, exit] = memoryStreamPair();
  const result = await relay(tcp, stream, { idleTimeoutMs: 60 });
  assert.ok(isP2proxyError(result.error, IDLE_TIMEOUT_CODE), String(result.error));
  await assert.rejects(exit.read(), "the exit's stream was reset");
  assert.equal(await readText(client), null, "the client's connection was closed");
});

/** `stream` with a `readInto` over its `read`, as the libp2p adapter offers one. */
function withReadInto(stream: DuplexStream): DuplexStream {
  let left: Uint8Array | undefined;
  return {
    read: () => stream.read(),
    async readInto(buffer) {
      const chunk = left ?? await stream.read();
      if (chunk === null) return null;
      const n = Math.min(chunk.byteLength, buffer.byteLength);
      buffer.set(chunk.subarray(0, n));
      left = n < chunk.byteLength ? chunk.subarray(n) : undefined;
      return n;
    },
    write: (chunk) => stream.write(chunk),
    closeWrite: () => stream.closeWrite(),
    abort: (reason) => stream.abort(reason),
  };
}

Deno.test("a stream with readInto: one reused buffer carries everything, byte-exact", async () => {
  const [client, tcp] = memoryConnectionPair();
  const [stream, exit] = memoryStreamPair();
  const running = relay(tcp, withReadInto(stream));
  const sent = Uint8Array.from({ length: 1_000_000 }, (_, i) => (i * 7) % 251);
  for (let offset = 0; offset < sent.byteLength; offset += 300_000) {
    await exit.write(sent.subarray(offset, offset + 300_000));
  }
  await exit.closeWrite();
  const received = new Uint8Array(sent.byteLength);
  let length = 0;
  while (true) {
    const n = await client.read(received.subarray(length));
    if (n === null) break;
    length += n;
  }
  assert.equal(length, sent.byteLength);
  assert.deepEqual(received, sent);
  await client.closeWrite();
  const result = await running;
  assert.deepEqual([result.bytesFromStream, result.error], [sent.byteLength, undefined]);
});

Deno.test("reads grow only to the relay's share of the budget, and shrink to it", () => {
  assert.equal(relayReadCap(1), RELAY_READ_BYTES, "a lone bulk session reads the most");
  assert.equal(relayReadCap(10_000), RELAY_MIN_READ_BYTES, "never below the smallest read");
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 100_000 }),
      fc.integer({ min: 0, max: 4 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (relays, step, fill) => {
        const cap = relayReadCap(relays);
        assert.ok(cap >= RELAY_MIN_READ_BYTES && cap <= RELAY_READ_BYTES);
        if (cap > RELAY_MIN_READ_BYTES) assert.ok(cap * relays <= RELAY_READ_BUDGET_BYTES);
        const size = RELAY_MIN_READ_BYTES * 2 ** step;
        const next = nextReadBytes(size, Math.floor(size * fill), cap);
        assert.ok(next >= RELAY_MIN_READ_BYTES && next <= cap, `${size} → ${next} (cap ${cap})`);
      },
    ),
  );
  assert.equal(nextReadBytes(RELAY_READ_BYTES, 1, RELAY_MIN_READ_BYTES), RELAY_MIN_READ_BYTES);
  assert.equal(nextReadBytes(64 * 1024, 64 * 1024, RELAY_READ_BYTES), 128 * 1024);
});
