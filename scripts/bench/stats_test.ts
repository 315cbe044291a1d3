import assert from "node:assert/strict";
import fc from "fast-check";
import { mbPerSecond, median, parseSize, percentile } from "./stats.ts";

Deno.test("percentile", async (t) => {
  await t.step("nearest rank on a known list", () => {
    const xs = [5, 1, 4, 2, 3, 6, 7, 8, 9, 10];
    assert.equal(percentile(xs, 50), 5);
    assert.equal(percentile(xs, 99), 10);
    assert.equal(percentile(xs, 0), 1);
    assert.equal(percentile(xs, 100), 10);
    assert.equal(median([3, 1, 2]), 2);
  });
  await t.step("empty is NaN, an out-of-range p throws", () => {
    assert.ok(Number.isNaN(percentile([], 50)));
    assert.throws(() => percentile([1], 101), RangeError);
  });
  await t.step("always a sample, monotone in p", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ noNaN: true, min: -1e6, max: 1e6 }), { minLength: 1 }),
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0, max: 100 }),
        (xs, a, b) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          assert.ok(xs.includes(percentile(xs, lo)));
          assert.ok(percentile(xs, lo) <= percentile(xs, hi));
        },
      ),
    );
  });
});

Deno.test("parseSize reads binary and decimal units", () => {
  assert.equal(parseSize("1GiB"), 1024 ** 3);
  assert.equal(parseSize("64MiB"), 64 * 1024 ** 2);
  assert.equal(parseSize("256 KiB"), 256 * 1024);
  assert.equal(parseSize("1.5GiB"), 1.5 * 1024 ** 3);
  assert.equal(parseSize("1000"), 1000);
  assert.equal(parseSize("2MB"), 2_000_000);
  assert.throws(() => parseSize("lots"), /not a number/);
  assert.throws(() => parseSize("0"), /less than one byte/);
});

Deno.test("mbPerSecond is decimal megabytes", () => {
  assert.equal(mbPerSecond(2_000_000, 2), 1);
  assert.ok(Number.isNaN(mbPerSecond(1, 0)));
});
