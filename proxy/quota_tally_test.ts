/**
 * The quota tally on a fake clock over stores in memory: two proxies sharing one store see one
 * total (each reads it the first time it sees an account, and on every sync), bytes wait in the
 * tally while the store fails and reach it after, a slow store does not hold a session for long.
 *
 * @module
 */
import assert from "node:assert/strict";
import { loadProxyConfig } from "../core/config/proxy_config.ts";
import type { QuotaCount, QuotaStore } from "../core/ports/quota_store.ts";
import { memoryStreamPair } from "../core/testing/memory_duplex.ts";
import { FileQuotaStore } from "../wire/quota_book.ts";
import { AccountLimiter } from "./account_limiter.ts";
import { QuotaTally } from "./quota_tally.ts";

const HUB = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWGRUVh9bW6Zu8tKJgPTv1xLcnmLa2PZYZU2tgjMTf3sV6";
const DAY = Date.UTC(2026, 11, 7, 12);
const SERVERS = loadProxyConfig(
  `
servers:
  - port: 1080
    users: [{ username: alice, password: a }]
    limits: { quota: { bytes: 5MB, period: day } }
`,
  { source: "Config.yaml", env: { P2PROXY_BOOTSTRAP: HUB } },
).servers;

/** A proxy's limiter and tally over `store`. */
function proxyOn(store: QuotaStore) {
  const tally = new QuotaTally(store, () => DAY);
  return { limiter: new AccountLimiter(SERVERS, () => DAY, tally), tally };
}

/** A session of `bytes` (both ways summed) through an admitted lease, ended. */
async function download(admission: Awaited<ReturnType<AccountLimiter["admit"]>>, bytes: number) {
  assert.ok(admission.ok && admission.lease, "admitted");
  const [ours, theirs] = memoryStreamPair();
  const metered = admission.lease.wrap(ours);
  await theirs.write(new Uint8Array(bytes));
  await theirs.closeWrite();
  while ((await metered.read()) !== null);
  await metered.closeWrite();
}

Deno.test("quota tally: two proxies on one store refuse once their traffic together is over the quota", async () => {
  const shared = await FileQuotaStore.open(undefined);
  const a = proxyOn(shared);
  const b = proxyOn(shared);
  await download(await a.limiter.admit(1080, "alice"), 3_000_000);
  a.limiter.flush();
  await a.tally.sync();
  // B has not seen alice: its first session waits for her total (3 MB) and is admitted on it.
  const atB = await b.limiter.admit(1080, "alice");
  assert.equal(b.tally.used("1080/alice", "day", DAY), 3_000_000, "B read A's bytes");
  await download(atB, 3_000_000);
  b.limiter.flush();
  await b.tally.sync();
  assert.equal(b.tally.used("1080/alice", "day", DAY), 6_000_000);
  const refusedAtB = await b.limiter.admit(1080, "alice");
  assert.equal(!refusedAtB.ok && refusedAtB.reason, "quota");
  // A knows only its own 3 MB until its next sync reads the shared total.
  assert.ok((await a.limiter.admit(1080, "alice")).ok, "A admits on what it has read so far");
  await a.tally.sync();
  const refusedAtA = await a.limiter.admit(1080, "alice");
  assert.equal(!refusedAtA.ok && refusedAtA.reason, "quota");
  assert.deepEqual(
    await shared.add([{ account: "1080/alice", period: "day:2026-12-07", bytes: 0 }]),
    [
      6_000_000,
    ],
  );
});

Deno.test("quota tally: bytes counted while the store fails reach it once it answers", async () => {
  const inner = await FileQuotaStore.open(undefined);
  let down = false;
  const store: QuotaStore = {
    add: (counts: readonly QuotaCount[]) =>
      down ? Promise.reject(new Error("connection refused")) : inner.add(counts),
  };
  const { limiter, tally } = proxyOn(store);
  const admission = await limiter.admit(1080, "alice");
  down = true;
  await download(admission, 1_000);
  limiter.flush();
  await tally.sync();
  await tally.sync();
  assert.equal(tally.used("1080/alice", "day", DAY), 1_000, "still counted here");
  down = false;
  await tally.sync();
  const [total] = await inner.add([{ account: "1080/alice", period: "day:2026-12-07", bytes: 0 }]);
  assert.equal(total, 1_000, "added once, not once per failed sync");
});

Deno.test("quota tally: a store that does not answer holds a first session at most the first-read timeout", async () => {
  let answer: ((totals: number[]) => void) | undefined;
  const store: QuotaStore = {
    add: () => new Promise((resolve) => answer = resolve),
  };
  const { limiter, tally } = proxyOn(store);
  const admission = await limiter.admit(1080, "alice");
  assert.ok(admission.ok, "decided on what this proxy counted (nothing)");
  assert.equal(tally.known("1080/alice", "day", DAY), true, "asked: no other session waits");
  const again = await limiter.admit(1080, "alice");
  assert.ok(again.ok, "decided at once");
  if (again.ok) again.lease?.fail();
  answer?.([0]);
  if (admission.ok) admission.lease?.fail();
});
