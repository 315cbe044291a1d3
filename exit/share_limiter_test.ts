import assert from "node:assert/strict";
import { memoryStreamPair } from "../core/testing/memory_duplex.ts";
import { QuotaBook } from "../wire/quota_book.ts";
import { SHARE_QUOTA_KEY, ShareLimiter } from "./share_limiter.ts";

const DAY = Date.UTC(2026, 11, 7, 12);

Deno.test("share: at its session cap the exit is full, says so once, and takes sessions again below it", async () => {
  const share = new ShareLimiter({ sessions: 2 }, () => DAY, await QuotaBook.open(undefined));
  const changes: boolean[] = [];
  share.onChange((full) => changes.push(full));
  assert.equal(share.admit(1).ok, true);
  assert.equal(share.update(1), false);
  const refused = share.admit(2);
  assert.equal(refused.ok, false);
  assert.match(!refused.ok ? refused.message : "", /at most 2 sessions at once; try another exit/);
  assert.equal(share.update(2), true);
  assert.equal(share.update(2), true);
  assert.equal(share.update(1), false);
  assert.deepEqual(changes, [true, false]);
});

Deno.test("share: the quota counts both directions of every session, until the period turns", async () => {
  let now = DAY;
  const quota = await QuotaBook.open(undefined);
  const share = new ShareLimiter({ quota: { bytes: 1000, period: "day" } }, () => now, quota);
  const [ours, theirs] = memoryStreamPair();
  const metered = share.meter(ours);
  await metered.write(new Uint8Array(600));
  await theirs.write(new Uint8Array(400));
  assert.equal((await metered.read())?.byteLength, 400);
  assert.equal(share.update(1), true, "1000 bytes shared");
  assert.equal(quota.ledger.used(SHARE_QUOTA_KEY, "day", now), 1000);
  assert.match((share.admit(0) as { message: string }).message, /shared its 1KB for this day/);
  now += 86_400_000;
  assert.equal(share.update(0), false, "a new day");
  metered.abort();
  theirs.abort();
});

Deno.test("share: without caps the stream is passed on as it is", async () => {
  const share = new ShareLimiter({}, () => DAY, await QuotaBook.open(undefined));
  const [ours, theirs] = memoryStreamPair();
  assert.equal(share.active, false);
  assert.equal(share.meter(ours), ours);
  ours.abort();
  theirs.abort();
});

Deno.test("share: a session over the exit's rate is held back (the chunk waits), not cut", async () => {
  // 8 kbps = 1000 bytes/s each way, with the smallest burst (16 KiB).
  const share = new ShareLimiter({ rateBps: 8_000 }, () => DAY, await QuotaBook.open(undefined));
  const [ours, theirs] = memoryStreamPair();
  const metered = share.meter(ours);
  await theirs.write(new Uint8Array(8 * 1024));
  assert.equal((await metered.read())?.byteLength, 8 * 1024, "within the burst: at once");
  await theirs.write(new Uint8Array(64 * 1024));
  let settled = false;
  const held = metered.read();
  held.then(() => (settled = true), () => (settled = true));
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(settled, false, "56 KiB of debt at 1000 bytes/s: the chunk waits");
  metered.abort(new Error("stop"));
  await assert.rejects(held, /stop/);
  theirs.abort();
});
