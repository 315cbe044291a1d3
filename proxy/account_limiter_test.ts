import assert from "node:assert/strict";
import { loadProxyConfig } from "../core/config/proxy_config.ts";
import { memoryStreamPair } from "../core/testing/memory_duplex.ts";
import { QuotaTally } from "./quota_tally.ts";
import { AccountLimiter } from "./account_limiter.ts";
import { UsageBook } from "./usage_book.ts";

const HUB = "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWC3iW81qrVSaGPV7aErQtDGMYg7R9hobpS4euNDi9b56S";
const DAY = Date.UTC(2026, 11, 7, 12);

function serversOf(yaml: string) {
  return loadProxyConfig(yaml, { source: "Config.yaml", env: { P2PROXY_BOOTSTRAP: HUB } }).servers;
}

async function limiterFor(yaml: string, now: () => number = () => DAY) {
  const usage = new UsageBook(now);
  const quota = await QuotaTally.inMemory(now);
  return { limiter: new AccountLimiter(serversOf(yaml), now, quota, usage), usage, quota };
}

/** Moves `bytes` through a lease's stream both ways, then ends it. */
async function session(
  lease: { wrap: (s: ReturnType<typeof memoryStreamPair>[0]) => unknown },
  up: number,
  down: number,
) {
  const [ours, theirs] = memoryStreamPair();
  const metered = lease.wrap(ours) as typeof ours;
  await metered.write(new Uint8Array(up));
  await theirs.write(new Uint8Array(down));
  await theirs.closeWrite();
  while ((await metered.read()) !== null);
  await metered.closeWrite();
}

Deno.test("limits: an account over its connections is refused with the reason limit; the slot comes back", async () => {
  const { limiter, usage } = await limiterFor(`
servers:
  - port: 1080
    limits: { connections: 1, accounts: { bob: {} } }
`);
  const first = await limiter.admit(1080, "alice");
  assert.ok(first.ok && first.lease);
  const second = await limiter.admit(1080, "alice");
  assert.equal(second.ok, false);
  assert.equal(!second.ok && second.reason, "limit");
  assert.match(!second.ok ? second.message : "", /"alice" has its maximum of 1 connections/);
  assert.ok(
    (await limiter.admit(1080, "bob")).ok && (await limiter.admit(1080, "bob")).ok,
    "bob has none",
  );
  assert.ok((await limiter.admit(1080, "carol")).ok, "another account has its own count");
  first.lease.fail();
  assert.ok((await limiter.admit(1080, "alice")).ok, "a failed session gives its slot back");
  const alice = usage.records({ account: "alice" })[0]!;
  assert.equal(alice.refused, 1);
  assert.equal(alice.errors, 1);
});

Deno.test("limits: a quota refuses new sessions once used up; the running one was admitted", async () => {
  let now = DAY;
  const { limiter, usage } = await limiterFor(
    `
servers:
  - port: 1080
    limits: { quota: { bytes: 1KB, period: day } }
`,
    () => now,
  );
  const first = await limiter.admit(1080, "alice");
  assert.ok(first.ok && first.lease);
  const second = await limiter.admit(1080, "alice");
  assert.ok(second.ok && second.lease, "nothing used yet");
  await session(first.lease, 600, 500);
  const refused = await limiter.admit(1080, "alice");
  assert.equal(!refused.ok && refused.reason, "quota");
  assert.match(!refused.ok ? refused.message : "", /quota of 1KB per day on port 1080/);
  assert.ok((await limiter.admit(1080, "bob")).ok, "bob's count is his own");
  await session(second.lease, 10, 10);
  now = DAY + 86_400_000;
  assert.ok((await limiter.admit(1080, "alice")).ok, "a new day starts from zero");
  const [record] = usage.records({ account: "alice" });
  assert.equal(record!.bytes_up, 610);
  assert.equal(record!.bytes_down, 510);
  assert.equal(record!.sessions, 2);
});

Deno.test("limits: a running session's bytes reach the quota tally on flush, before it ends", async () => {
  const { limiter, quota } = await limiterFor(`
servers:
  - port: 1080
    limits: { quota: { bytes: 1MB, period: month } }
`);
  const admitted = await limiter.admit(1080, undefined);
  assert.ok(admitted.ok && admitted.lease);
  const [ours, theirs] = memoryStreamPair();
  const metered = admitted.lease.wrap(ours);
  await metered.write(new Uint8Array(1234));
  assert.equal(quota.used("1080/", "month", DAY), 0);
  limiter.flush();
  assert.equal(quota.used("1080/", "month", DAY), 1234, 'no account: the account ""');
  metered.abort();
  theirs.abort();
});

Deno.test("limits: a port without limits admits without metering anonymous sessions", async () => {
  const { limiter } = await limiterFor("servers: [{ port: 1080 }]");
  const admitted = await limiter.admit(1080, undefined);
  assert.deepEqual(admitted, { ok: true });
  const named = await limiter.admit(1080, "alice");
  assert.ok(named.ok && named.lease, "a named account still gets usage records");
});

Deno.test("limits: ports with the same quota_scope count one total per account", async () => {
  const { limiter } = await limiterFor(`
servers:
  - port: 1080
    limits: { quota: { bytes: 1KB, period: day }, quota_scope: pool }
  - port: 1081
    limits: { quota: { bytes: 1KB, period: day }, quota_scope: pool }
  - port: 1082
    limits: { quota: { bytes: 1KB, period: day } }
`);
  const first = await limiter.admit(1080, "alice");
  assert.ok(first.ok && first.lease);
  await session(first.lease, 600, 500);
  limiter.flush();
  const refused = await limiter.admit(1081, "alice");
  assert.equal(!refused.ok && refused.reason, "quota", "1081 counts 1080's bytes");
  assert.match(!refused.ok ? refused.message : "", /on port 1081/);
  assert.ok((await limiter.admit(1082, "alice")).ok, "a port without the scope counts its own");
});
