import assert from "node:assert/strict";
import fc from "fast-check";
import { FrameError } from "../core/codec/frame.ts";
import { memoryStreamPair } from "../core/testing/memory_duplex.ts";
import {
  ConnectStatus,
  decodeUdpFrame,
  encodeUdpPacketFrame,
  encodeUdpRefusalFrame,
  MAX_UDP_PAYLOAD_BYTES,
  readUdpAssociateRequest,
  requestUdpAssociation,
  sendUdpAssociateResponse,
  UdpFrameReader,
  UdpProtocolError,
} from "./udp_protocol.ts";

/** The payload of a frame made by an encoder (the varint length stripped). */
function payloadOf(frame: Uint8Array): Uint8Array {
  let index = 0;
  while (frame[index]! & 0x80) index++;
  return frame.subarray(index + 1);
}

const host = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.domain().filter((name) => name.length <= 255),
);

Deno.test("UDP protocol frames", async (t) => {
  await t.step("a datagram round-trips with its address and payload", () => {
    const data = Uint8Array.of(1, 2, 3);
    const frame = decodeUdpFrame(payloadOf(encodeUdpPacketFrame({ host: "::1", port: 53, data })));
    assert.equal(frame.kind, "datagram");
    if (frame.kind !== "datagram") return;
    assert.deepEqual({ ...frame.packet, data: [...frame.packet.data] }, {
      host: "::1",
      port: 53,
      data: [1, 2, 3],
    });
  });

  await t.step("a refusal carries host, port, reason and message", () => {
    const frame = decodeUdpFrame(payloadOf(encodeUdpRefusalFrame({
      host: "10.0.0.1",
      port: 53,
      reason: "denied-range",
      message: "private range",
    })));
    assert.deepEqual(frame, {
      kind: "refused",
      refusal: { host: "10.0.0.1", port: 53, reason: "denied-range", message: "private range" },
    });
  });

  await t.step("the largest payload fits a frame; one byte more is too large", () => {
    const host255 = "a".repeat(255);
    const data = new Uint8Array(MAX_UDP_PAYLOAD_BYTES);
    assert.ok(encodeUdpPacketFrame({ host: host255, port: 65535, data }).byteLength > 0);
    assert.throws(
      () => encodeUdpPacketFrame({ host: "h", port: 1, data: new Uint8Array(data.length + 1) }),
      (error) => error instanceof UdpProtocolError && error.code === "too-large",
    );
  });

  await t.step("bad hosts and ports are refused both ways, quoting the value", () => {
    for (const [badHost, port] of [["", 1], ["a b", 1], ["x".repeat(256), 1], ["h", 0]] as const) {
      assert.throws(
        () => encodeUdpPacketFrame({ host: badHost, port, data: new Uint8Array(0) }),
        (error) => error instanceof UdpProtocolError && error.code === "malformed",
      );
    }
    // Port 70000 fits the message's uint32 but no UDP header.
    const tooHigh = Uint8Array.of(0x0a, 1, 0x68, 0x10, 0xf0, 0xa2, 0x04);
    assert.throws(
      () => decodeUdpFrame(tooHigh),
      (error) => error instanceof UdpProtocolError && /70000/.test(error.message),
    );
  });

  await t.step(
    "the reader returns frames split and merged anyhow, then null at a clean end",
    async () => {
      const [writer, reader] = memoryStreamPair();
      const frames = [1, 2, 3].map((n) =>
        encodeUdpPacketFrame({ host: "127.0.0.1", port: n, data: Uint8Array.of(n) })
      );
      const all = new Uint8Array(frames.reduce((sum, f) => sum + f.length, 0));
      let offset = 0;
      for (const frame of frames) {
        all.set(frame, offset);
        offset += frame.length;
      }
      // One byte, then the rest in one chunk.
      await writer.write(all.subarray(0, 1));
      await writer.write(all.subarray(1));
      await writer.closeWrite();
      const frameReader = new UdpFrameReader(reader);
      const ports = [];
      for (let frame = await frameReader.next(); frame; frame = await frameReader.next()) {
        assert.equal(frame.kind, "datagram");
        if (frame.kind === "datagram") ports.push(frame.packet.port);
      }
      assert.deepEqual(ports, [1, 2, 3]);
    },
  );

  await t.step("a stream that ends inside a frame is malformed", async () => {
    const [writer, reader] = memoryStreamPair();
    const frame = encodeUdpPacketFrame({ host: "h", port: 1, data: Uint8Array.of(1, 2) });
    await writer.write(frame.subarray(0, frame.length - 1));
    await writer.closeWrite();
    await assert.rejects(
      new UdpFrameReader(reader).next(),
      (error) => error instanceof UdpProtocolError && error.code === "malformed",
    );
  });

  await t.step("the handshake: request with token and id, answer, then frames", async () => {
    const [proxy, exit] = memoryStreamPair();
    const signal = AbortSignal.timeout(5_000);
    const asked = requestUdpAssociation(proxy, { token: "tok", sessionId: "1080-1" }, signal);
    const request = await readUdpAssociateRequest(exit, signal);
    assert.equal(request.token, "tok");
    assert.equal(request.sessionId, "1080-1");
    // The answer and a first datagram in one write: the datagram is not lost.
    await sendUdpAssociateResponse(exit, { status: ConnectStatus.SUCCEEDED });
    await exit.write(encodeUdpPacketFrame({ host: "127.0.0.1", port: 9, data: Uint8Array.of(7) }));
    const reply = await asked;
    assert.equal(reply.status, ConnectStatus.SUCCEEDED);
    const frame = await new UdpFrameReader(reply.stream).next();
    assert.equal(frame?.kind, "datagram");
    proxy.abort();
  });
});

Deno.test("property: datagram frames round-trip every address and payload", () => {
  fc.assert(
    fc.property(
      host,
      fc.integer({ min: 1, max: 65535 }),
      fc.uint8Array({ maxLength: 2048 }),
      (h, port, data) => {
        const frame = decodeUdpFrame(payloadOf(encodeUdpPacketFrame({ host: h, port, data })));
        assert.equal(frame.kind, "datagram");
        if (frame.kind !== "datagram") return;
        assert.equal(frame.packet.host, h);
        assert.equal(frame.packet.port, port);
        assert.deepEqual([...frame.packet.data], [...data]);
      },
    ),
  );
});

Deno.test("property: arbitrary bytes decode to a bounded frame or throw UdpProtocolError", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      try {
        const frame = decodeUdpFrame(bytes);
        if (frame.kind === "datagram") {
          const { host: h, port, data } = frame.packet;
          assert.ok(h.length >= 1 && h.length <= 255);
          assert.ok(port >= 1 && port <= 65535);
          assert.ok(data.byteLength <= MAX_UDP_PAYLOAD_BYTES);
        } else {
          assert.ok(frame.refusal.reason.length >= 1 && frame.refusal.reason.length <= 64);
          assert.ok(frame.refusal.message.length <= 512);
        }
      } catch (error) {
        assert.ok(error instanceof UdpProtocolError, `unexpected ${error}`);
      }
    }),
    { numRuns: 2000 },
  );
});

Deno.test("property: a reader over arbitrary bytes yields frames, null, or a codec error", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }),
      async (chunks) => {
        const [writer, reader] = memoryStreamPair();
        for (const chunk of chunks) await writer.write(chunk);
        await writer.closeWrite();
        const frames = new UdpFrameReader(reader);
        try {
          for (let i = 0; i < 1000 && await frames.next(); i++) { /* drain */ }
        } catch (error) {
          assert.ok(
            error instanceof UdpProtocolError || error instanceof FrameError,
            `unexpected ${error}`,
          );
        }
      },
    ),
    { numRuns: 300 },
  );
  // A length over the frame limit fails before the body is waited for.
  const [writer, reader] = memoryStreamPair();
  await writer.write(Uint8Array.of(0xff, 0xff, 0x7f));
  await assert.rejects(new UdpFrameReader(reader).next(), FrameError);
  writer.abort();
});
