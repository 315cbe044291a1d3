/**
 * Losing exits, with real processes (docs/proxy-behaviour.md#losing-an-exit): one hub, four exits
 * (two in NL, two in DE) and one proxy whose servers cover every case.
 *
 * - SIGKILL of the exit two NL ports share, mid-download: their sessions end
 *   at once; the `fail-fast` port serves new sessions on the other NL exit
 *   within 3 s; the `with-backoff` port first retries the lost exit (1 s,
 *   then 2 s) and then rotates; a long download on the DE port, through
 *   another exit, completes byte-exact.
 * - Pinned: rank 0 serves; rank 1 while rank 0 is down; rank 0 again within
 *   ~15 s of its return (the proxy re-checks better ranks every 10 s).
 * - A hard pin to an exit that is down answers SOCKS 01 with a clear log line
 *   and never routes elsewhere, although other exits are registered;
 *   `fallback_to_discovery: true` routes to a registered exit.
 *
 * @module
 */
import assert from "node:assert/strict";
import { FileIdentity } from "../plugins/identity-file/file_identity.ts";
import { startSourceServer } from "./_servers.ts";
import { openSocks, SocksReplyError, type SocksSession } from "./_socks_client.ts";
import {
  Cluster,
  countingSha256,
  curlVia,
  firstWhoamiVia,
  freePort,
  selectExitManually,
  serverRow,
  servers,
  sleep,
  startWhoami,
  waitForRow,
  type Whoami,
  whoamiVia,
} from "./_network.ts";

const MIB = 1024 * 1024;
const N1 = "127.0.0.2";
const N2 = "127.0.0.3";
const D1 = "127.0.0.4";
const D2 = "127.0.0.5";
/** Bound on a port getting its first exit. */
const FIRST_EXIT_MS = 15_000;
/** Read through the doomed exit before it is killed: the transfer is under way. */
const BEFORE_KILL_BYTES = 4 * MIB;
/** A killed exit's sessions must close within this (a hang fails here). */
const SESSION_CLOSE_MS = 5_000;
/** The bound for fail-fast: new sessions on another exit within 3 s of the kill. */
const FAIL_FAST_WITHIN_MS = 3_000;
/** with-backoff sleeps 1 s then 2 s between its three attempts on the lost exit (STICKY_RECONNECT_*). */
const WITH_BACKOFF_AT_LEAST_MS = 3_000;
/** Timer slack allowed below that minimum. */
const TIMER_SLACK_MS = 100;
/** Bound on with-backoff's rotation: three failed dials plus the sleeps, with margin. */
const WITH_BACKOFF_WITHIN_MS = 12_000;
/** The concurrent download on the other exit: rate-limited so it spans the kill and the failovers. */
const BACKGROUND_DOWNLOAD_BYTES = 48 * MIB;
const BACKGROUND_RATE = "8M";
/** PINNED_RECLAIM_INTERVAL_MS (10 s) plus a dial and margin: the "~15 s". */
const RECLAIM_WITHIN_MS = 15_000;
/** The proxy's JIT wait (30 s) bounds the hard-pinned client's wait; this bounds the test's. */
const HARD_PIN_CLIENT_MS = 45_000;

/** How the hard-pinned client's CONNECT ended. */
interface HardPinOutcome {
  readonly replyCode: number | undefined;
  readonly error: string | undefined;
  readonly ms: number;
}

/** Retries a whoami through `port` until one succeeds; its source and when, after `since`. */
async function firstSuccessAfter(port: number, whoami: Whoami, since: number, boundMs: number) {
  const deadline = since + boundMs;
  let last = "";
  while (performance.now() < deadline) {
    const left = Math.max(1, Math.ceil((deadline - performance.now()) / 1000));
    const result = await curlVia(port, whoami.url, left);
    if (result.code === 0) return { source: result.text, ms: performance.now() - since };
    last = result.stderr.trim();
    await sleep(50);
  }
  throw new Error(`No session through port ${port} within ${boundMs} ms (last: ${last}).`);
}

/** Opens an endless download through `port` and reads its header (the exit's source) and some data. */
async function downloadUnderway(port: number, sourcePort: number): Promise<{
  session: SocksSession;
  source: string;
}> {
  const session = await openSocks({ proxyPort: port, host: "127.0.0.1", port: sourcePort });
  const [source] = (await session.reader.line(10_000, "the source's header")).split(" ");
  await session.reader.exactly(BEFORE_KILL_BYTES, 10_000, "the download");
  return { session, source: source ?? "" };
}

/** A rediscovery after a loss may wait out the 30 s cooldown, plus a discovery. */
const REDISCOVERY_WAIT_MS = 40_000;

Deno.test("failover and pinned ranks: killed exits, fail-fast vs with-backoff, hard pin, fallback", async (t) => {
  const cluster = new Cluster();
  const whoami = startWhoami();
  const endless = startSourceServer(7);
  const hardPinWatch = { stop: false, sawExit: [] as string[] };
  let hardPinClient: Promise<HardPinOutcome> | undefined;
  let hardPinWatcher: Promise<void> | undefined;
  try {
    const hub = await cluster.hub();
    const [n1, n2, d1, d2] = await Promise.all([
      cluster.exit(N1, hub, { attributes: { country: "NL" } }),
      cluster.exit(N2, hub, { attributes: { country: "NL" } }),
      cluster.exit(D1, hub, { attributes: { country: "DE" } }),
      cluster.exit(D2, hub, { attributes: { country: "DE" } }),
    ]);
    const sourceOf = new Map([[n1.peerId, N1], [n2.peerId, N2], [d1.peerId, D1], [
      d2.peerId,
      D2,
    ]]);
    // A pinned exit that is never up (its address refuses connections).
    const ghost = `/ip4/127.0.0.1/tcp/${freePort()}/p2p/${(await FileIdentity.generate()).peerId}`;
    const port = {
      failFast: freePort(),
      withBackoff: freePort(),
      de: freePort(),
      pinned: freePort(),
      hardPin: freePort(),
      fallback: freePort(),
    };
    const proxy = await cluster.proxy(hub, {
      servers: [
        { port: port.failFast, country: "NL", sticky_reconnect: "fail-fast" },
        { port: port.withBackoff, country: "NL", sticky_reconnect: "with-backoff" },
        { port: port.de, country: "DE" },
        { port: port.pinned, destination_peers: [d1.address, d2.address] },
        { port: port.hardPin, destination_peers: [ghost] },
        { port: port.fallback, destination_peers: [ghost], fallback_to_discovery: true },
      ],
    });
    // The hard-pinned client waits in the background while the other steps run.
    const hardPinStarted = performance.now();
    hardPinClient = openSocks({
      proxyPort: port.hardPin,
      host: "127.0.0.1",
      port: whoami.port,
      timeoutMs: HARD_PIN_CLIENT_MS,
    }).then(
      (session) => {
        session.reader.close();
        return { replyCode: 0, error: undefined, ms: performance.now() - hardPinStarted };
      },
      (error) => ({
        replyCode: error instanceof SocksReplyError ? error.reply.code : undefined,
        error: error instanceof Error ? error.message : String(error),
        ms: performance.now() - hardPinStarted,
      }),
    );
    hardPinWatcher = (async () => {
      while (!hardPinWatch.stop) {
        const row = await serverRow(proxy.metricsPort, port.hardPin).catch(() => undefined);
        if (row?.peer_id) hardPinWatch.sawExit.push(row.peer_id);
        await sleep(250);
      }
    })();

    let shared = "";
    await t.step("every port gets an exit its filters or pins allow", async () => {
      const [ff, wb, de, pinned, fallback] = await Promise.all(
        [port.failFast, port.withBackoff, port.de, port.pinned, port.fallback].map((p) =>
          firstWhoamiVia(p, whoami, FIRST_EXIT_MS)
        ),
      );
      assert.ok([N1, N2].includes(ff!) && [N1, N2].includes(wb!), `${ff} ${wb}`);
      assert.ok([D1, D2].includes(de!), de);
      assert.equal(pinned, D1, "rank 0 is preferred");
      assert.equal((await serverRow(proxy.metricsPort, port.pinned)).source, "pinned[0]");
      // Fallback: the pinned peer is down, so a registered exit (any: no filters) serves.
      assert.ok([N1, N2, D1, D2].includes(fallback!), fallback);
      assert.equal((await serverRow(proxy.metricsPort, port.fallback)).source, "discovered");
      // Both NL ports on one exit, so that one kill measures both reconnect modes.
      shared = (await serverRow(proxy.metricsPort, port.failFast)).peer_id!;
      if ((await serverRow(proxy.metricsPort, port.withBackoff)).peer_id !== shared) {
        const moved = await selectExitManually(proxy.metricsPort, port.withBackoff, shared);
        assert.equal(moved.status, 200);
      }
    });

    await t.step(
      "SIGKILL of the active exit: sessions end, fail-fast rotates at once, with-backoff retries first, other exits untouched",
      async () => {
        const doomed = shared === n1.peerId ? n1 : n2;
        const survivor = shared === n1.peerId ? N2 : N1;
        const background = curlVia(
          port.de,
          `${whoami.url}bytes/${BACKGROUND_DOWNLOAD_BYTES}`,
          60,
          ["--limit-rate", BACKGROUND_RATE],
        );
        const ff = await downloadUnderway(port.failFast, endless.port);
        const wb = await downloadUnderway(port.withBackoff, endless.port);
        try {
          assert.equal(ff.source, sourceOf.get(doomed.peerId));
          assert.equal(wb.source, sourceOf.get(doomed.peerId));
          await doomed.kill();
          const killedAt = performance.now();
          const ended = async (session: SocksSession) => {
            const how = await session.reader.toEnd(SESSION_CLOSE_MS, "the killed exit's session");
            return { how, ms: performance.now() - killedAt };
          };
          const [ffEnd, wbEnd, ffNext, wbNext] = await Promise.all([
            ended(ff.session),
            ended(wb.session),
            firstSuccessAfter(port.failFast, whoami, killedAt, FAIL_FAST_WITHIN_MS * 3),
            firstSuccessAfter(port.withBackoff, whoami, killedAt, WITH_BACKOFF_WITHIN_MS),
          ]);
          console.log(
            `  sessions closed ${ffEnd.ms.toFixed(0)} / ${wbEnd.ms.toFixed(0)} ms after the kill ` +
              `(${ffEnd.how}/${wbEnd.how}); new session through another exit: fail-fast ` +
              `${ffNext.ms.toFixed(0)} ms, with-backoff ${wbNext.ms.toFixed(0)} ms`,
          );
          assert.ok(ffEnd.ms < SESSION_CLOSE_MS && wbEnd.ms < SESSION_CLOSE_MS);
          assert.equal(ffNext.source, survivor);
          assert.equal(wbNext.source, survivor);
          assert.ok(ffNext.ms < FAIL_FAST_WITHIN_MS, `fail-fast took ${ffNext.ms.toFixed(0)} ms`);
          assert.ok(
            wbNext.ms >= WITH_BACKOFF_AT_LEAST_MS - TIMER_SLACK_MS,
            `with-backoff rotated after ${wbNext.ms.toFixed(0)} ms: it did not retry the lost exit`,
          );
          for (const p of [port.failFast, port.withBackoff]) {
            const row = await serverRow(proxy.metricsPort, p);
            assert.equal(sourceOf.get(row.peer_id ?? ""), survivor);
          }
          const download = await background;
          assert.equal(download.code, 0, download.stderr);
          assert.equal(download.bytes, BACKGROUND_DOWNLOAD_BYTES);
          assert.equal(download.sha256, countingSha256(BACKGROUND_DOWNLOAD_BYTES));
        } finally {
          ff.session.reader.close();
          wb.session.reader.close();
          await background;
        }
      },
    );

    await t.step("pinned: rank 1 while rank 0 is down, rank 0 again once it is back", async () => {
      const d1Port = Number(/\/tcp\/(\d+)\//.exec(d1.address)?.[1]);
      await d1.kill();
      const killedAt = performance.now();
      const next = await firstSuccessAfter(port.pinned, whoami, killedAt, FIRST_EXIT_MS);
      assert.equal(next.source, D2);
      assert.equal((await serverRow(proxy.metricsPort, port.pinned)).source, "pinned[1]");
      for (let i = 0; i < 3; i++) assert.equal(await whoamiVia(port.pinned, whoami), D2);

      await cluster.exit(D1, hub, { attributes: { country: "DE" } }, { dir: d1.dir, port: d1Port });
      const backAt = performance.now();
      await waitForRow(
        proxy.metricsPort,
        port.pinned,
        (row) => row.source === "pinned[0]" && row.peer_id === d1.peerId,
        RECLAIM_WITHIN_MS,
        "rank 0 to be given back",
      );
      const reclaimMs = performance.now() - backAt;
      assert.equal(await whoamiVia(port.pinned, whoami), D1);
      console.log(
        `  pinned: rank 1 served ${next.ms.toFixed(0)} ms after rank 0 died; rank 0 given back ` +
          `${reclaimMs.toFixed(0)} ms after it returned`,
      );
    });

    await t.step(
      "a hard pin that is down answers SOCKS 01 and never routes elsewhere",
      async () => {
        const outcome = await hardPinClient!;
        hardPinWatch.stop = true;
        await hardPinWatcher;
        console.log(`  hard pin: reply ${outcome.replyCode} after ${outcome.ms.toFixed(0)} ms`);
        assert.equal(outcome.replyCode, 0x01, outcome.error);
        assert.deepEqual(hardPinWatch.sawExit, []);
        const row = (await servers(proxy.metricsPort)).find((r) => r.port === port.hardPin);
        assert.deepEqual([row?.peer_id, row?.source], [null, null]);
        assert.match(
          proxy.logs(),
          new RegExp(`None of the 1 pinned peers of port ${port.hardPin} .* could be reached`),
        );
        // The fallback port, pinned to the same peer, has a registered exit. (If the exit it
        // had was one of those killed above, its rediscovery may wait out the 30 s cooldown.)
        await waitForRow(
          proxy.metricsPort,
          port.fallback,
          (row) => row.peer_id !== null,
          REDISCOVERY_WAIT_MS,
          "the fallback port to have an exit",
        );
      },
    );
  } finally {
    hardPinWatch.stop = true;
    await hardPinWatcher;
    await cluster.close();
    await hardPinClient;
    await endless.close();
    await whoami.close();
  }
});
