import assert from "node:assert/strict";
import fc from "fast-check";
import {
  DataFrameDecoder,
  DataFrameError,
  END,
  END_FRAME,
  framed,
  frameHeader,
} from "./data_frames.ts";

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/** Everything the decoder hands out for `wire` pushed in pieces cut at `cuts`. */
function decode(wire: Uint8Array, cuts: readonly number[], max?: number) {
  const decoder = new DataFrameDecoder(max);
  const payload: Uint8Array[] = [];
  let ended = false;
  const points = [...new Set(cuts.map((cut) => cut % (wire.byteLength + 1)))].sort((a, b) => a - b);
  let start = 0;
  for (const point of [...points, wire.byteLength]) {
    decoder.push(wire.subarray(start, point));
    start = point;
    for (let item = decoder.next(); item !== undefined; item = decoder.next()) {
      if (item === END) {
        ended = true;
        break;
      }
      payload.push(item.slice());
    }
    if (ended) break;
  }
  return { payload: concat(payload), ended, midFrame: decoder.midFrame };
}

Deno.test("frames round-trip however the bytes are cut, and the end marker ends them", () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      (writes, cuts) => {
        const wire = concat([...writes.map(framed), END_FRAME, new Uint8Array([9, 9, 9])]);
        const { payload, ended } = decode(wire, cuts);
        assert.deepEqual(payload, concat(writes));
        assert.equal(ended, true, "the end marker must end the stream");
      },
    ),
  );
});

Deno.test("pieces capped at maxBytes add up to the same payload; holdsBytes tracks what is left", () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 6 }),
      fc.integer({ min: 1, max: 64 }),
      (writes, maxBytes) => {
        const decoder = new DataFrameDecoder();
        decoder.push(concat([...writes.map(framed), END_FRAME]));
        const pieces: Uint8Array[] = [];
        for (let item = decoder.next(maxBytes); item !== END; item = decoder.next(maxBytes)) {
          assert.ok(item !== undefined, "every byte was pushed: the decoder needs no more");
          assert.ok(item.byteLength >= 1 && item.byteLength <= maxBytes);
          pieces.push(item.slice());
        }
        assert.deepEqual(concat(pieces), concat(writes));
        assert.equal(decoder.holdsBytes, false, "the end marker releases what was pushed");
      },
    ),
  );
});

Deno.test("holdsBytes is true while a pushed chunk is not all handed out", () => {
  const decoder = new DataFrameDecoder();
  assert.equal(decoder.holdsBytes, false);
  decoder.push(framed(new Uint8Array([1, 2, 3])).subarray(0, 2));
  assert.equal(decoder.next(), undefined, "half a header is not enough");
  assert.equal(decoder.holdsBytes, true, "the half header is still held");
  decoder.push(framed(new Uint8Array([1, 2, 3])).subarray(2));
  assert.deepEqual(decoder.next(2), new Uint8Array([1, 2]));
  assert.equal(decoder.holdsBytes, true);
  assert.deepEqual(decoder.next(2), new Uint8Array([3]));
  assert.equal(decoder.holdsBytes, false);
});

Deno.test("a header written apart from its payload decodes the same", () => {
  const payload = Uint8Array.from({ length: 70_000 }, (_, i) => i % 251);
  const wire = concat([frameHeader(payload.byteLength), payload, END_FRAME]);
  const { payload: out, ended } = decode(wire, [1, 2, 3, 4, 5, 65_536, 69_999]);
  assert.deepEqual(out, payload);
  assert.equal(ended, true);
});

Deno.test("bytes that stop inside a frame are mid-frame: the stream was reset, not ended", () => {
  const wire = framed(new Uint8Array(10));
  const cut = decode(wire.subarray(0, 7), []);
  assert.equal(cut.ended, false);
  assert.equal(cut.midFrame, true);
  const headerOnly = decode(wire.subarray(0, 2), []);
  assert.equal(headerOnly.midFrame, true);
  const whole = decode(wire, []);
  assert.equal(whole.ended, false, "no end marker: not a clean end");
  assert.equal(whole.midFrame, false);
});

Deno.test("a declared length over the limit is refused with DataFrameError", () => {
  const decoder = new DataFrameDecoder(1024);
  decoder.push(frameHeader(1025));
  assert.throws(
    () => decoder.next(),
    (error) => error instanceof DataFrameError && error.code === "frame-too-large",
  );
});

Deno.test("arbitrary bytes decode or fail with DataFrameError, never anything else", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 200 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      (wire, cuts) => {
        try {
          decode(wire, cuts, 64);
        } catch (error) {
          assert.ok(error instanceof DataFrameError, `unexpected ${error}`);
        }
      },
    ),
  );
});

/** Pushes `wire` cut at `cuts`, decoding after every push as a reader would: payload and rest. */
function decodeWithRest(wire: Uint8Array, cuts: readonly number[]) {
  const decoder = new DataFrameDecoder();
  const payload: Uint8Array[] = [];
  let ended = false;
  const points = [...new Set(cuts.map((cut) => cut % (wire.byteLength + 1)))].sort((a, b) => a - b);
  let start = 0;
  for (const point of [...points, wire.byteLength]) {
    decoder.push(wire.subarray(start, point));
    start = point;
    if (ended) continue; // a reader past the end marker decodes nothing more
    for (let item = decoder.next(); item !== undefined; item = decoder.next()) {
      if (item === END) {
        ended = true;
        break;
      }
      payload.push(item.slice());
    }
  }
  return { payload: concat(payload), ended, rest: decoder.takeRest(), again: decoder.takeRest() };
}

Deno.test("takeRest hands out the bytes behind the end marker across chunks, once", () => {
  const tail = Uint8Array.from({ length: 40 }, (_, i) => 200 + i % 50);
  const wire = concat([framed(new Uint8Array([1, 2, 3])), END_FRAME, tail]);
  const decoder = new DataFrameDecoder();
  assert.deepEqual(decoder.takeRest(), new Uint8Array(0), "nothing before the end marker");
  // The end marker split over two chunks, the tail over three.
  const endAt = wire.byteLength - tail.byteLength;
  for (const [from, to] of [[0, endAt - 2], [endAt - 2, endAt + 5], [endAt + 5, endAt + 20]]) {
    decoder.push(wire.subarray(from, to));
  }
  assert.deepEqual(decoder.next(), new Uint8Array([1, 2, 3]));
  assert.equal(decoder.next(), END);
  decoder.push(wire.subarray(endAt + 20));
  assert.equal(decoder.holdsBytes, false, "bytes past the end marker are rest, not held for next");
  const rest = decoder.takeRest();
  assert.deepEqual(rest, tail);
  assert.deepEqual(decoder.takeRest(), new Uint8Array(0), "the rest is handed out once");
  assert.equal(decoder.next(), END, "the decoder stays ended");
});

Deno.test("takeRest is a copy: reusing the pushed buffer does not change it", () => {
  const wire = concat([END_FRAME, new Uint8Array([7, 8, 9])]);
  const decoder = new DataFrameDecoder();
  decoder.push(wire);
  assert.equal(decoder.next(), END);
  const rest = decoder.takeRest();
  wire.fill(0);
  assert.deepEqual(rest, new Uint8Array([7, 8, 9]));
});

Deno.test("takeRest equals the bytes behind the end marker however the wire is cut", () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 200 }), { maxLength: 6 }),
      fc.uint8Array({ maxLength: 300 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      (writes, tail, cuts) => {
        const wire = concat([...writes.map(framed), END_FRAME, tail]);
        const { payload, ended, rest, again } = decodeWithRest(wire, cuts);
        assert.equal(ended, true);
        assert.deepEqual(payload, concat(writes));
        assert.deepEqual(rest, tail);
        assert.equal(again.byteLength, 0, "takeRest hands the rest out once");
      },
    ),
  );
});
