/**
 * Lazy opens over QUIC (`OpenOptions.lazy`): the caller writes before the exit answered the
 * stream header, and the answer is checked by the first read. Real QUIC-wrapped libp2p nodes.
 */
import assert from "node:assert/strict";
import { StreamError } from "../../core/ports/stream_opener.ts";
import { libp2pSettled } from "../../tests/_libp2p.ts";
import { QuicNodes } from "./_testing.ts";

const ECHO = "/p2proxy-test/echo/1.0.0";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function twoNodes() {
  const nodes = new QuicNodes();
  const opener = await nodes.node("always", false);
  const remote = await nodes.node();
  await opener.dialAny(remote.addresses());
  return { nodes, opener, remote };
}

Deno.test("a lazy QUIC open: the first write rides behind the header, the echo comes back", async () => {
  const { nodes, opener, remote } = await twoNodes();
  try {
    remote.handle(ECHO, async (stream) => {
      for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read()) {
        await stream.write(chunk);
      }
      await stream.closeWrite();
    });
    const stream = await opener.open(remote.peerId, {
      protocol: ECHO,
      timeoutMs: 5_000,
      maxConcurrent: 4,
      lazy: true,
    });
    await stream.write(encoder.encode("ping"));
    await stream.closeWrite();
    let echoed = "";
    for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read()) {
      echoed += decoder.decode(chunk);
    }
    assert.equal(echoed, "ping");
  } finally {
    await nodes.stop();
    await libp2pSettled();
  }
});

Deno.test("a lazy QUIC open of a protocol the exit does not serve fails the first read", async () => {
  const { nodes, opener, remote } = await twoNodes();
  try {
    const stream = await opener.open(remote.peerId, {
      protocol: "/p2proxy-test/nobody/1.0.0",
      timeoutMs: 5_000,
      maxConcurrent: 4,
      lazy: true,
    });
    await stream.write(encoder.encode("request"));
    await assert.rejects(
      () => stream.read(),
      (error) => error instanceof StreamError && error.code === "unsupported-protocol",
    );
  } finally {
    await nodes.stop();
    await libp2pSettled();
  }
});

Deno.test("a lazy QUIC stream carries bytes exactly through readInto, read and growing receive buffers", async () => {
  const { nodes, opener, remote } = await twoNodes();
  try {
    // The handler echoes with readInto into a small buffer it reuses (the relay's way).
    remote.handle(ECHO, async (stream) => {
      const buffer = new Uint8Array(1000);
      for (let n = await stream.readInto!(buffer); n !== null; n = await stream.readInto!(buffer)) {
        await stream.write(buffer.slice(0, n));
      }
      await stream.closeWrite();
    });
    const stream = await opener.open(remote.peerId, {
      protocol: ECHO,
      timeoutMs: 5_000,
      maxConcurrent: 4,
      lazy: true,
    });
    const sent = Uint8Array.from({ length: 700_000 }, (_, i) => (i * 31 + (i >> 9)) % 251);
    const writing = (async () => {
      for (let offset = 0; offset < sent.byteLength; offset += 70_001) {
        await stream.write(sent.subarray(offset, offset + 70_001));
      }
      await stream.closeWrite();
    })();
    const received: Uint8Array[] = [];
    let total = 0;
    for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read()) {
      received.push(chunk);
      total += chunk.byteLength;
    }
    await writing;
    const joined = new Uint8Array(total);
    let offset = 0;
    for (const chunk of received) {
      joined.set(chunk, offset);
      offset += chunk.byteLength;
    }
    assert.deepEqual(joined, sent);
  } finally {
    await nodes.stop();
    await libp2pSettled();
  }
});
