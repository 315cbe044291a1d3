import assert from "node:assert/strict";
import fc from "fast-check";
import { TokenBucket } from "./token_bucket.ts";

Deno.test("token bucket: the burst moves at once, then the caller waits for its debt", () => {
  const bucket = new TokenBucket(1_000_000, 250_000, 0);
  assert.equal(bucket.take(250_000, 0), 0);
  assert.equal(bucket.take(500_000, 0), 500);
  assert.equal(bucket.waitMs(250), 250);
  assert.equal(bucket.waitMs(500), 0);
  assert.equal(bucket.tokens(500), 0);
});

Deno.test("token bucket: a quiet spell refills up to the burst, no further", () => {
  const bucket = new TokenBucket(1_000, 2_000, 0);
  assert.equal(bucket.take(2_000, 0), 0);
  assert.equal(bucket.tokens(1_000), 1_000);
  assert.equal(bucket.tokens(60_000), 2_000);
});

Deno.test("token bucket: a caller under its rate never waits", () => {
  const bucket = new TokenBucket(1_000_000, 100_000, 0);
  for (let ms = 0; ms < 10_000; ms += 10) assert.equal(bucket.take(10_000, ms), 0);
});

Deno.test("token bucket: a clock stepping back neither refills nor drains", () => {
  const bucket = new TokenBucket(1_000, 1_000, 5_000);
  bucket.take(1_000, 5_000);
  assert.equal(bucket.tokens(1_000), 0);
  assert.equal(bucket.tokens(5_500), 500);
});

Deno.test("token bucket: refuses a zero rate or burst", () => {
  assert.throws(() => new TokenBucket(0, 1, 0), RangeError);
  assert.throws(() => new TokenBucket(1, 0, 0), RangeError);
});

Deno.test("token bucket (property): a caller that waits as told moves at most burst + rate × time", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1_000, max: 10_000_000 }),
      fc.integer({ min: 1, max: 1_000_000 }),
      fc.array(fc.integer({ min: 1, max: 262_144 }), { minLength: 1, maxLength: 200 }),
      (rate, burst, chunks) => {
        const bucket = new TokenBucket(rate, burst, 0);
        let now = 0;
        let moved = 0;
        for (const chunk of chunks) {
          // The caller waits before moving more: the pay-before shape the relay uses.
          now += bucket.waitMs(now);
          moved += chunk;
          assert.ok(moved <= burst + (rate * now) / 1000 + chunk, `${moved} at ${now} ms`);
          bucket.take(chunk, now);
        }
        now += bucket.waitMs(now);
        assert.ok(moved <= burst + (rate * now) / 1000 + 1);
      },
    ),
  );
});
