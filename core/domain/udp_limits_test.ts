import assert from "node:assert/strict";
import fc from "fast-check";
import { P2proxyError } from "../errors.ts";
import { DatagramRateLimit, RecentKeys } from "./udp_limits.ts";

Deno.test("DatagramRateLimit allows `perSecond` datagrams per one-second window", () => {
  const rate = new DatagramRateLimit(3);
  assert.deepEqual([0, 10, 20, 30, 999].map((t) => rate.allow(t)), [
    true,
    true,
    true,
    false,
    false,
  ]);
  // A new window starts a second after the first datagram of the last one.
  assert.deepEqual([1000, 1001, 1002, 1003].map((t) => rate.allow(t)), [true, true, true, false]);
  // A clock that went backwards starts a fresh window rather than blocking forever.
  assert.equal(rate.allow(500), true);
});

Deno.test("DatagramRateLimit refuses a rate that is not a positive integer", () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => new DatagramRateLimit(bad), P2proxyError, String(bad));
  }
});

Deno.test("property: no window of one second passes more than perSecond * 2", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 20 }),
      fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 300 }),
      (perSecond, gaps) => {
        const rate = new DatagramRateLimit(perSecond);
        let now = 0;
        const passed: number[] = [];
        for (const gap of gaps) {
          now += gap;
          if (rate.allow(now)) passed.push(now);
        }
        for (const start of passed) {
          const inWindow = passed.filter((t) => t >= start && t < start + 1000).length;
          assert.ok(inWindow <= perSecond * 2, `${inWindow} in a second from ${start}`);
        }
      },
    ),
  );
});

Deno.test("RecentKeys keeps the newest `limit` keys; adding refreshes", () => {
  const keys = new RecentKeys(2);
  assert.equal(keys.add("a"), true);
  assert.equal(keys.add("b"), true);
  assert.equal(keys.add("a"), false, "already there");
  keys.add("c"); // Forgets b, the oldest once a was refreshed.
  assert.deepEqual([keys.has("a"), keys.has("b"), keys.has("c"), keys.size], [
    true,
    false,
    true,
    2,
  ]);
});
