import assert from "node:assert/strict";
import fc from "fast-check";
import { StreamError } from "../../core/ports/stream_opener.ts";
import { FileIdentity } from "../identity-file/file_identity.ts";
import { libp2pSettled } from "../../tests/_libp2p.ts";
import {
  LazySelectReply,
  lazySelectRequest,
  MAX_SELECT_MESSAGE_BYTES,
  MULTISTREAM_ID,
} from "./lazy_select.ts";
import { Libp2pNetwork } from "./libp2p_network.ts";

const PROTOCOL = "/p2proxy-test/echo/1.0.0";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A reference encoder of one multistream message (varint length, text, newline). */
function message(text: string): Uint8Array {
  const body = encoder.encode(`${text}\n`);
  const length = body.byteLength < 0x80
    ? [body.byteLength]
    : [(body.byteLength & 0x7f) | 0x80, body.byteLength >> 7];
  return Uint8Array.from([...length, ...body]);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/** Feeds `bytes` cut at `cuts`; the bytes after the answer, or undefined when it never completed. */
function feed(reply: LazySelectReply, bytes: Uint8Array, cuts: number[]): Uint8Array | undefined {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.byteLength + 1)))].sort((a, b) =>
    a - b
  );
  let start = 0;
  let rest: Uint8Array | undefined;
  const done: Uint8Array[] = [];
  for (const point of [...points, bytes.byteLength]) {
    const piece = bytes.subarray(start, Math.max(start, point));
    start = Math.max(start, point);
    if (rest !== undefined) {
      done.push(piece);
      continue;
    }
    rest = reply.push(piece);
  }
  return rest === undefined ? undefined : concat(rest, ...done);
}

Deno.test("the lazy request is the multistream header and the protocol, each length-prefixed", () => {
  assert.deepEqual(lazySelectRequest(PROTOCOL), concat(message(MULTISTREAM_ID), message(PROTOCOL)));
  assert.throws(() => lazySelectRequest(`/${"x".repeat(MAX_SELECT_MESSAGE_BYTES)}`), RangeError);
});

Deno.test("the answer is read in any cut, and what follows it is handed back whole", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      (after, cuts) => {
        const answer = concat(message(MULTISTREAM_ID), message(PROTOCOL), after);
        assert.deepEqual(feed(new LazySelectReply(PROTOCOL), answer, cuts), after);
      },
    ),
  );
});

Deno.test("na is unsupported-protocol; anything else is a bounded io error", () => {
  const refused = concat(message(MULTISTREAM_ID), message("na"));
  assert.throws(
    () => new LazySelectReply(PROTOCOL).push(refused),
    (error) => error instanceof StreamError && error.code === "unsupported-protocol",
  );
  for (
    const bad of [
      message("/other/1.0.0"),
      concat(message(MULTISTREAM_ID), message("/other/1.0.0")),
      Uint8Array.of(3, 0x61, 0x62, 0x63), // no newline
      Uint8Array.of(0), // an empty message
      Uint8Array.of(0xff, 0xff, 0x01), // a length beyond two varint bytes
      Uint8Array.of(0x81, 0x08), // 1025 bytes: over the limit
    ]
  ) {
    assert.throws(
      () => new LazySelectReply(PROTOCOL).push(bad),
      (error) => error instanceof StreamError && error.code === "io",
      `${bad}`,
    );
  }
});

Deno.test("arbitrary bytes: the reader answers, waits or throws a StreamError, and buffers little", () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 700 }), { maxLength: 8 }), (chunks) => {
      const reply = new LazySelectReply(PROTOCOL);
      let fed = 0;
      for (const chunk of chunks) {
        fed += chunk.byteLength;
        try {
          if (reply.push(chunk) !== undefined) return;
        } catch (error) {
          assert.ok(error instanceof StreamError, `threw ${error}`);
          return;
        }
        // Two messages of at most 1024 bytes and their lengths: past that it must have decided.
        assert.ok(fed <= 2 * (MAX_SELECT_MESSAGE_BYTES + 2), `still waiting after ${fed} bytes`);
      }
    }),
  );
});

async function node(): Promise<Libp2pNetwork> {
  const network = await Libp2pNetwork.create(await FileIdentity.generate(), {
    listen: ["/ip4/127.0.0.1/tcp/0"],
    announce: [],
  });
  await network.start();
  return network;
}

async function readAll(stream: { read(): Promise<Uint8Array | null> }): Promise<string> {
  let text = "";
  for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read()) {
    text += decoder.decode(chunk, { stream: true });
  }
  return text;
}

const OPEN = { timeoutMs: 5_000, maxConcurrent: 8, lazy: true } as const;

Deno.test("a lazily negotiated libp2p stream: the listener sees only our bytes; na fails the first read", async () => {
  const [dialer, listener] = [await node(), await node()];
  try {
    const heard: string[] = [];
    await listener.handle(PROTOCOL, async (stream) => {
      try {
        const text = await readAll(stream);
        heard.push(text);
        await stream.write(encoder.encode(text.toUpperCase()));
        await stream.closeWrite();
      } catch {
        stream.abort();
      }
    });
    await listener.handle("/p2proxy-test/greet/1.0.0", async (stream) => {
      await stream.write(encoder.encode("hello"));
      await stream.closeWrite();
    });
    await dialer.dialAny([listener.addresses()[0]!]);

    const stream = await dialer.open(listener.peerId, { protocol: PROTOCOL, ...OPEN });
    await stream.write(encoder.encode("first write "));
    await stream.write(encoder.encode("and more"));
    await stream.closeWrite();
    assert.equal(await readAll(stream), "FIRST WRITE AND MORE");
    assert.deepEqual(heard, ["first write and more"], "no negotiation bytes reach the handler");

    // A listener that talks first: our first read sends the negotiation.
    const greeted = await dialer.open(listener.peerId, {
      protocol: "/p2proxy-test/greet/1.0.0",
      ...OPEN,
    });
    assert.equal(await readAll(greeted), "hello");
    await greeted.closeWrite();

    const refused = await dialer.open(listener.peerId, { protocol: "/not-served/1.0.0", ...OPEN });
    await refused.write(encoder.encode("ignored"));
    await assert.rejects(
      refused.read(),
      (error) => error instanceof StreamError && error.code === "unsupported-protocol",
    );
    await assert.rejects(refused.write(encoder.encode("x")), "the stream is reset");
  } finally {
    await dialer.stop();
    await listener.stop();
    await libp2pSettled();
  }
});
