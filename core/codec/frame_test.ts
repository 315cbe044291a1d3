import assert from "node:assert/strict";
import { sizeDelimitedPeek } from "@bufbuild/protobuf/wire";
import fc from "fast-check";
import {
  encodeFrame,
  FrameDecoder,
  FrameError,
  type FrameErrorCode,
  MAX_FRAME_BYTES,
  readFrame,
} from "./frame.ts";

const bytes = (...values: number[]) => Uint8Array.from(values);

/** A reference LEB128 encoder, independent of the one under test. */
function varint(value: number): number[] {
  const out: number[] = [];
  let rest = BigInt(value);
  do {
    const low = Number(rest & 0x7fn);
    rest >>= 7n;
    out.push(rest > 0n ? low | 0x80 : low);
  } while (rest > 0n);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Splits `data` at the given cut points (any numbers; taken modulo the length). */
function split(data: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => data.length ? cut % data.length : 0))]
    .sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const point of [...points, data.length]) {
    if (point > start) chunks.push(data.subarray(start, point));
    start = Math.max(start, point);
  }
  return chunks;
}

async function* chunksOf(chunks: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const chunk of chunks) yield chunk;
}

function assertFrameError(fn: () => unknown, code: FrameErrorCode): FrameError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof FrameError, `expected FrameError, got ${error}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected FrameError "${code}", nothing was thrown`);
}

async function assertRejectsFrameError(promise: Promise<unknown>, code: FrameErrorCode) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof FrameError, `expected FrameError, got ${error}`);
    assert.equal(error.code, code, error.message);
    return true;
  });
}

Deno.test("encodeFrame", async (t) => {
  await t.step("prefixes the payload with its LEB128 length", () => {
    assert.deepEqual(encodeFrame(bytes()), bytes(0));
    assert.deepEqual(encodeFrame(bytes(7, 8)), bytes(2, 7, 8));
    assert.deepEqual(encodeFrame(new Uint8Array(300)).subarray(0, 2), bytes(0xac, 0x02));
    const max = encodeFrame(new Uint8Array(MAX_FRAME_BYTES));
    assert.deepEqual(max.subarray(0, 3), bytes(0x80, 0x80, 0x04));
    assert.equal(max.length, MAX_FRAME_BYTES + 3);
  });

  await t.step("refuses payloads over 64 KiB", () => {
    assertFrameError(() => encodeFrame(new Uint8Array(MAX_FRAME_BYTES + 1)), "too-large");
  });
});

Deno.test("FrameDecoder", async (t) => {
  await t.step("returns frames split across chunks", () => {
    const decoder = new FrameDecoder();
    assert.deepEqual(decoder.push(bytes(3, 1)), []);
    assert.deepEqual(decoder.push(bytes(2)), []);
    assert.deepEqual(decoder.push(bytes(3, 0, 2, 9)), [bytes(1, 2, 3), bytes()]);
    assert.deepEqual(decoder.remainder(), bytes(2, 9));
    assert.deepEqual(decoder.push(bytes(8)), [bytes(9, 8)]);
    assert.equal(decoder.bufferedBytes, 0);
  });

  await t.step("keeps the bytes after a frame for the raw relay", () => {
    const decoder = new FrameDecoder();
    const raw = new TextEncoder().encode("HTTP/1.1 200 OK\r\n");
    assert.deepEqual(decoder.push(concat([encodeFrame(bytes(42)), raw])).slice(0, 1), [bytes(42)]);
    assert.deepEqual(decoder.remainder(), raw);
  });

  await t.step("nextFrame takes one frame and leaves the next one encoded", () => {
    const decoder = new FrameDecoder();
    decoder.append(concat([encodeFrame(bytes(1)), encodeFrame(bytes(2, 2)), bytes(0x80)]));
    assert.deepEqual(decoder.nextFrame(), bytes(1));
    assert.deepEqual(decoder.remainder(), bytes(2, 2, 2, 0x80));
  });

  await t.step("does not alias the caller's buffers", () => {
    const decoder = new FrameDecoder();
    const chunk = bytes(2, 5);
    decoder.push(chunk);
    chunk[1] = 99;
    assert.deepEqual(decoder.push(bytes(6)), [bytes(5, 6)]);
  });

  await t.step("rejects an oversized length from the prefix alone", () => {
    assertFrameError(() => new FrameDecoder().push(bytes(0x81, 0x80, 0x04)), "too-large");
    // The sum already exceeds the limit before the prefix ends.
    assertFrameError(() => new FrameDecoder().push(bytes(0xff, 0xff, 0xff)), "too-large");
    const small = new FrameDecoder({ maxFrameBytes: 10 });
    assert.deepEqual(small.push(encodeFrame(new Uint8Array(10))), [new Uint8Array(10)]);
    assertFrameError(() => small.push(bytes(11)), "too-large");
  });

  await t.step("rejects non-minimal and over-long varints", () => {
    assertFrameError(() => new FrameDecoder().push(bytes(0x80, 0x00)), "bad-varint");
    assertFrameError(() => new FrameDecoder().push(bytes(0x85, 0x80, 0x00)), "bad-varint");
    const decoder = new FrameDecoder({ maxFrameBytes: Number.MAX_SAFE_INTEGER });
    assert.deepEqual(decoder.push(new Uint8Array(8).fill(0x80)), []);
    assertFrameError(() => decoder.push(bytes(0x80)), "bad-varint");
  });

  await t.step("stays failed after an error", () => {
    const decoder = new FrameDecoder();
    assertFrameError(() => decoder.push(bytes(0x80, 0x00)), "bad-varint");
    assertFrameError(() => decoder.push(bytes(1, 1)), "bad-varint");
  });

  await t.step("validates its option", () => {
    assertFrameError(() => new FrameDecoder({ maxFrameBytes: -1 }), "bad-option");
    assertFrameError(() => new FrameDecoder({ maxFrameBytes: 1.5 }), "bad-option");
  });
});

Deno.test("sizeDelimitedPeek misreads prefixes FrameDecoder refuses (why frame.ts reads its own)", () => {
  // If the library starts refusing these, frame.ts can use it for the prefix: see its module doc.
  const huge = bytes(...varint(2 ** 32 + 3));
  assert.deepEqual(sizeDelimitedPeek(huge), { eof: false, size: 3, offset: 5 });
  assertFrameError(() => new FrameDecoder().push(huge), "too-large");
  const nonMinimal = bytes(0x80, 0x00);
  assert.deepEqual(sizeDelimitedPeek(nonMinimal), { eof: false, size: 0, offset: 2 });
  assertFrameError(() => new FrameDecoder().push(nonMinimal), "bad-varint");
});

Deno.test("readFrame", async (t) => {
  await t.step(
    "returns the first frame and the bytes after it, leaving the source open",
    async () => {
      const source = chunksOf([bytes(3, 1), bytes(2, 3, 0xaa), bytes(0xbb)]);
      const { frame, rest } = await readFrame(source);
      assert.deepEqual(frame, bytes(1, 2, 3));
      assert.deepEqual(rest, bytes(0xaa));
      assert.deepEqual(await source.next(), { done: false, value: bytes(0xbb) });
    },
  );

  await t.step("fails when the source ends mid-frame", async () => {
    await assertRejectsFrameError(readFrame(chunksOf([bytes(5, 1, 2)])), "truncated");
    await assertRejectsFrameError(readFrame(chunksOf([])), "truncated");
  });

  await t.step("fails on an oversized prefix without reading the body", async () => {
    let pulled = 0;
    async function* source() {
      pulled++;
      yield bytes(0x81, 0x80, 0x04);
      pulled++;
      yield new Uint8Array(MAX_FRAME_BYTES);
    }
    await assertRejectsFrameError(readFrame(source()), "too-large");
    assert.equal(pulled, 1);
  });

  await t.step("stops waiting when the signal aborts", async () => {
    const pending: AsyncIterator<Uint8Array> = {
      next: () => new Promise<IteratorResult<Uint8Array>>(() => {}),
    };
    const controller = new AbortController();
    const reading = readFrame(pending, controller.signal);
    controller.abort(new Error("handshake timeout"));
    const error = await reading.catch((e: unknown) => e);
    assert.ok(error instanceof FrameError && error.code === "aborted");
    assert.match(error.message, /handshake timeout/);
    await assertRejectsFrameError(readFrame(pending, controller.signal), "aborted");
  });

  await t.step("passes the source's own errors through", async () => {
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield bytes(4);
      throw new TypeError("stream reset");
    }
    await assert.rejects(readFrame(failing()), TypeError);
  });
});

// ---------------------------------------------------------------------------
// Properties

const payload = fc.uint8Array({ maxLength: 600 });
const cuts = fc.array(fc.nat(), { maxLength: 30 });

Deno.test("property: frame sequences round-trip across any chunking", () => {
  fc.assert(fc.property(fc.array(payload, { maxLength: 8 }), cuts, (payloads, points) => {
    const decoder = new FrameDecoder();
    const frames = split(concat(payloads.map(encodeFrame)), points)
      .flatMap((chunk) => decoder.push(chunk));
    assert.deepEqual(frames, payloads);
    assert.equal(decoder.remainder().length, 0);
  }));
});

Deno.test("property: the bytes after the first frame are never lost", async (t) => {
  await t.step("FrameDecoder.nextFrame + remainder", () => {
    fc.assert(
      fc.property(payload, fc.uint8Array({ maxLength: 300 }), cuts, (first, tail, points) => {
        const decoder = new FrameDecoder();
        let frame: Uint8Array | undefined;
        for (const chunk of split(concat([encodeFrame(first), tail]), points)) {
          decoder.append(chunk);
          frame ??= decoder.nextFrame();
        }
        assert.deepEqual(frame, first);
        assert.deepEqual(decoder.remainder(), tail);
      }),
    );
  });

  await t.step("readFrame rest + what the source still holds", async () => {
    await fc.assert(
      fc.asyncProperty(
        payload,
        fc.uint8Array({ maxLength: 300 }),
        cuts,
        async (first, tail, points) => {
          const source = chunksOf(split(concat([encodeFrame(first), tail]), points));
          const { frame, rest } = await readFrame(source);
          const after: Uint8Array[] = [rest];
          for (let next = await source.next(); !next.done; next = await source.next()) {
            after.push(next.value);
          }
          assert.deepEqual(frame, first);
          assert.deepEqual(concat(after), tail);
        },
      ),
    );
  });
});

Deno.test("property: arbitrary bytes only ever throw FrameError", () => {
  const limit = fc.constantFrom(MAX_FRAME_BYTES, 0, 1, 200, Number.MAX_SAFE_INTEGER);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), cuts, limit, (data, points, maxFrameBytes) => {
      const decoder = new FrameDecoder({ maxFrameBytes });
      try {
        for (const chunk of split(data, points)) {
          for (const frame of decoder.push(chunk)) assert.ok(frame.length <= maxFrameBytes);
        }
      } catch (error) {
        assert.ok(error instanceof FrameError, `threw ${error}`);
        return;
      }
      assert.ok(decoder.remainder().length <= data.length);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("property: an oversized length is rejected once its prefix is in", () => {
  const oversize = fc.integer({ min: MAX_FRAME_BYTES + 1, max: Number.MAX_SAFE_INTEGER });
  fc.assert(fc.property(oversize, (length) => {
    const decoder = new FrameDecoder();
    const prefix = varint(length);
    let error: unknown;
    for (const value of prefix) {
      try {
        decoder.push(bytes(value));
      } catch (caught) {
        error = caught;
        break;
      }
    }
    assert.ok(error instanceof FrameError, `no error for a declared length of ${length}`);
    assert.equal(error.code, "too-large");
    assert.ok(decoder.bufferedBytes <= prefix.length);
  }));
});
