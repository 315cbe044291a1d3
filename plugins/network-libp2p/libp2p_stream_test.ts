/**
 * The libp2p stream adapter's reads over real nodes on 127.0.0.1: chunks handed on in the pieces
 * libp2p delivers, and `readInto` gathering them into the caller's buffer, byte-exact whatever
 * the buffer sizes and however reads and readIntos alternate.
 */
import assert from "node:assert/strict";
import { FileIdentity } from "../identity-file/file_identity.ts";
import { libp2pSettled } from "../../tests/_libp2p.ts";
import { Libp2pNetwork } from "./libp2p_network.ts";

const PROTOCOL = "/p2proxy-test/bytes/1.0.0";
const SENT_BYTES = 3 * 1024 * 1024;

async function node(): Promise<Libp2pNetwork> {
  const network = await Libp2pNetwork.create(await FileIdentity.generate(), {
    listen: ["/ip4/127.0.0.1/tcp/0"],
    announce: [],
  });
  await network.start();
  return network;
}

Deno.test("readInto and read, alternating with odd buffer sizes, get every byte in order", async () => {
  const sent = Uint8Array.from({ length: SENT_BYTES }, (_, i) => (i * 31 + (i >> 16)) % 253);
  const [dialer, listener] = [await node(), await node()];
  try {
    await listener.handle(PROTOCOL, async (stream) => {
      try {
        // Writes of several sizes, so that frames span noise messages in several ways.
        for (let offset = 0, size = 1; offset < sent.byteLength; size = (size * 7) % 300_001 + 1) {
          await stream.write(sent.subarray(offset, offset + size));
          offset += size;
        }
        await stream.closeWrite();
      } catch {
        stream.abort();
      }
    });
    await dialer.dialAny([listener.addresses()[0]!]);
    const stream = await dialer.open(listener.peerId, {
      protocol: PROTOCOL,
      timeoutMs: 5_000,
      maxConcurrent: 4,
    });
    await stream.closeWrite();
    const received = new Uint8Array(SENT_BYTES);
    let length = 0;
    const sizes = [1, 1000, 70_000, 65_519, 300_000, 17];
    for (let turn = 0;; turn++) {
      if (turn % 3 === 2) {
        const chunk = await stream.read();
        if (chunk === null) break;
        received.set(chunk, length);
        length += chunk.byteLength;
        continue;
      }
      const buffer = new Uint8Array(sizes[turn % sizes.length]!);
      const n = await stream.readInto(buffer);
      if (n === null) break;
      assert.ok(n > 0 && n <= buffer.byteLength, `readInto gave ${n} of ${buffer.byteLength}`);
      received.set(buffer.subarray(0, n), length);
      length += n;
    }
    assert.equal(length, SENT_BYTES);
    assert.ok(received.every((byte, i) => byte === sent[i]), "the bytes differ");
    assert.equal(await stream.readInto(new Uint8Array(8)), null, "the end stays the end");
  } finally {
    await dialer.stop();
    await listener.stop();
    await libp2pSettled();
  }
});
