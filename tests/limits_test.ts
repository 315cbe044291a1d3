/**
 * Limits and accounting end to end (docs/limits.md) with real processes and curl: an account's
 * rate slows only that account, a quota refuses the next connection once used up and survives a
 * restart, and an exit at its sharing cap is passed over for another exit.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Cluster, curlVia, freePort, pollUntil, scrape, startWhoami } from "./_network.ts";
import { startEchoServer } from "./_servers.ts";
import { openSocks, SocksReplyError } from "./_socks_client.ts";

const MIB = 1024 * 1024;
/** 8 Mbps: 1 MB/s each way. */
const ONE_MB_PER_SEC = "8Mbps";
/** 3 MiB at 1 MB/s with half a second of burst needs 2.6 s; no limit would take milliseconds. */
const RATE_TEST_BYTES = 3 * MIB;
const CURL_TIMEOUT_SECS = 30;
/** Bound on a proxy or exit finding its exit. */
const READY_MS = 30_000;

const ALICE = { username: "alice", password: "alice-password" };
const BOB = { username: "bob", password: "bob-password" };
const proxyUser = (user: typeof ALICE) => ["--proxy-user", `${user.username}:${user.password}`];

/** The first request through a port succeeds once the proxy has its exit. */
async function firstRequest(port: number, url: string, user: typeof ALICE) {
  return await pollUntil(
    async () => {
      const result = await curlVia(port, url, 10, proxyUser(user));
      return result.code === 0 ? result : undefined;
    },
    READY_MS,
    `a first request through port ${port}`,
  );
}

Deno.test("limits: an account limited to 1 MB/s needs ≥ 2 s for 3 MiB; another account on the port is not slowed", async () => {
  const cluster = new Cluster();
  const whoami = startWhoami();
  try {
    const exit = await cluster.exit("127.0.0.2", undefined);
    const port = freePort();
    const proxy = await cluster.proxy(undefined, {
      servers: [{
        port,
        destination_peers: [exit.address],
        users: [ALICE, BOB],
        limits: { accounts: { alice: { rate: ONE_MB_PER_SEC } } },
      }],
    });
    await firstRequest(port, whoami.url, BOB);
    const url = `${whoami.url}bytes/${RATE_TEST_BYTES}`;
    let aliceDone = false;
    const alice = curlVia(port, url, CURL_TIMEOUT_SECS, proxyUser(ALICE)).finally(() => {
      aliceDone = true;
    });
    const bob = await curlVia(port, url, CURL_TIMEOUT_SECS, proxyUser(BOB));
    const bobFinishedFirst = !aliceDone;
    const aliceResult = await alice;
    assert.equal(aliceResult.code, 0, aliceResult.stderr + cluster.logs());
    assert.equal(aliceResult.bytes, RATE_TEST_BYTES);
    assert.ok(aliceResult.ms >= 2_000, `alice got 3 MiB in ${aliceResult.ms} ms, under 2 s`);
    assert.equal(bob.code, 0, bob.stderr);
    assert.equal(bob.bytes, RATE_TEST_BYTES);
    assert.ok(bobFinishedFirst, `bob (${bob.ms} ms) was held back with alice`);

    // Usage per account: the admin API, and the metrics with the account as a label.
    const usage = await pollUntil(
      async () => {
        const response = await fetch(
          `http://127.0.0.1:${proxy.metricsPort}/v1/usage?account=alice`,
          { signal: AbortSignal.timeout(5_000) },
        );
        const body = await response.json() as { records: { bytes_down: number }[] };
        const down = body.records.reduce((sum, r) => sum + r.bytes_down, 0);
        return down >= RATE_TEST_BYTES ? body.records : undefined;
      },
      5_000,
      "alice's usage record",
    );
    assert.equal(usage.length, 1);
    const metrics = await scrape(proxy.metricsPort);
    assert.match(
      metrics,
      /p2proxy_account_download_bytes_total\{account="alice",country="-"\} \d{7}/,
    );
    assert.match(
      metrics,
      /p2proxy_account_download_bytes_total\{account="bob",country="-"\} \d{7}/,
    );
  } finally {
    await cluster.close();
    await whoami.close();
  }
});

Deno.test("limits: a quota of 5 MB refuses the next connection once used up (SOCKS5 02), also after a restart", async () => {
  const cluster = new Cluster();
  const whoami = startWhoami();
  try {
    const exit = await cluster.exit("127.0.0.2", undefined);
    const port = freePort();
    const config = {
      servers: [{
        port,
        destination_peers: [exit.address],
        users: [ALICE, BOB],
        limits: { quota: { bytes: "5MB", period: "day" } },
      }],
    };
    const proxy = await cluster.proxy(undefined, config);
    await firstRequest(port, whoami.url, ALICE);
    const url = `${whoami.url}bytes/${3_000_000}`;
    for (const round of [1, 2]) {
      const result = await curlVia(port, url, CURL_TIMEOUT_SECS, proxyUser(ALICE));
      assert.equal(result.code, 0, `download ${round} within the quota: ${result.stderr}`);
    }
    const refusedReply = async () => {
      try {
        const session = await openSocks({
          proxyPort: port,
          host: "127.0.0.1",
          port: whoami.port,
          auth: ALICE,
        });
        session.reader.close();
        return 0;
      } catch (error) {
        if (error instanceof SocksReplyError) return error.reply.code;
        throw error;
      }
    };
    // The last download's session ends a moment after curl has its bytes: its count then lands.
    const refusal = () =>
      pollUntil(async () => (await refusedReply()) === 0x02 || undefined, 5_000, "a refusal");
    await refusal();
    assert.match(proxy.logs(), /"alice" has used its quota of 5MB per day on port/);
    const bob = await curlVia(port, whoami.url, CURL_TIMEOUT_SECS, proxyUser(BOB));
    assert.equal(bob.code, 0, "bob's quota is his own");

    await proxy.stop();
    // The hour in progress was written at stop, marked partial (docs/limits.md#usage-file).
    const lines = (await Deno.readTextFile(`${proxy.dir}/usage_hourly.jsonl`)).trim().split("\n");
    const aliceLine = lines.map((line) => JSON.parse(line)).find((r) => r.account === "alice");
    assert.equal(aliceLine?.partial, true, lines.join("\n"));
    assert.equal(aliceLine?.refused, 1);
    assert.ok(aliceLine.bytes_down >= 6_000_000);
    const restarted = await cluster.proxy(undefined, config, { dir: proxy.dir });
    await firstRequest(port, whoami.url, BOB);
    assert.equal(await refusedReply(), 0x02, "the restart kept the count");
    const saved = JSON.parse(await Deno.readTextFile(`${restarted.dir}/usage_quota.json`));
    assert.ok(saved.accounts[`${port}/alice`].bytes >= 6_000_000, JSON.stringify(saved));
  } finally {
    await cluster.close();
    await whoami.close();
  }
});

Deno.test("share: an exit at its session cap is passed over; the client gets another exit, not an error", async () => {
  const cluster = new Cluster();
  const whoami = startWhoami();
  const echo = startEchoServer();
  try {
    const capped = await cluster.exit("127.0.0.2", undefined, { share: { sessions: 1 } });
    const other = await cluster.exit("127.0.0.3", undefined);
    const port = freePort();
    // Pinned in rank order: the capped exit is the port's first choice.
    const proxy = await cluster.proxy(undefined, {
      servers: [{ port, destination_peers: [capped.address, other.address] }],
    }, { logLevel: "info" });
    const held = await pollUntil(
      () => openSocks({ proxyPort: port, host: "127.0.0.1", port: echo.port }),
      READY_MS,
      "a session through the capped exit",
    );
    try {
      const through = await curlVia(port, whoami.url, CURL_TIMEOUT_SECS);
      assert.equal(through.code, 0, through.stderr + cluster.logs());
      assert.equal(through.text.trim(), "127.0.0.3", "the other exit carried it");
      assert.match(proxy.logs(), new RegExp(`Exit ${capped.peerId} is full`));
    } finally {
      held.reader.close();
    }
  } finally {
    await cluster.close();
    await echo.close();
    await whoami.close();
  }
});
