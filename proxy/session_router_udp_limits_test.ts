/**
 * UDP ASSOCIATE under an account's limits (docs/limits.md#udp): an association is admitted like a
 * CONNECT (connections and quota; refused with SOCKS5 02 before any exit is asked), its datagram
 * stream is counted in the usage records and the quota, and its slot comes back when it ends.
 */
import assert from "node:assert/strict";
import { SOCKS_REPLY } from "../core/codec/socks5.ts";
import { loadProxyConfig } from "../core/config/proxy_config.ts";
import { aPeerId } from "../core/testing/builders.ts";
import { RecordingSink } from "../core/testing/fakes.ts";
import { memoryStreamPair } from "../core/testing/memory_duplex.ts";
import {
  ConnectStatus,
  encodeUdpPacketFrame,
  readUdpAssociateRequest,
  sendUdpAssociateResponse,
  UdpFrameReader,
} from "../wire/udp_protocol.ts";
import { AccountLimiter } from "./account_limiter.ts";
import { QuotaTally } from "./quota_tally.ts";
import { ExitSessionRouter } from "./session_router.ts";
import { UsageBook } from "./usage_book.ts";

const EXIT = aPeerId(1);
const HUB = "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWC3iW81qrVSaGPV7aErQtDGMYg7R9hobpS4euNDi9b56S";
const DAY = Date.UTC(2026, 11, 7, 12);

const SERVERS = loadProxyConfig(
  "servers: [{ port: 1080, limits: { connections: 1, quota: { bytes: 2KB, period: day } } }]",
  { source: "Config.yaml", env: { P2PROXY_BOOTSTRAP: HUB } },
).servers;

/** An exit that accepts each association and echoes its datagrams until the stream ends. */
function echoingExit() {
  const [proxyEnd, exitEnd] = memoryStreamPair();
  void (async () => {
    const signal = AbortSignal.timeout(5_000);
    const { frames } = await readUdpAssociateRequest(exitEnd, signal);
    await sendUdpAssociateResponse(exitEnd, { status: ConnectStatus.SUCCEEDED });
    for (let frame = await frames.next(); frame; frame = await frames.next()) {
      if (frame.kind === "datagram") await exitEnd.write(encodeUdpPacketFrame(frame.packet));
    }
  })().catch(() => {/* the proxy reset the stream */});
  return proxyEnd;
}

async function routerWithLimits() {
  const usage = new UsageBook(() => DAY);
  const tally = await QuotaTally.inMemory(() => DAY);
  const limiter = new AccountLimiter(SERVERS, () => DAY, tally, usage);
  const asked: string[] = [];
  const router = new ExitSessionRouter({
    servers: SERVERS,
    exits: { exitForSession: () => Promise.resolve(EXIT), reportUnusable: () => {} },
    streams: {
      open: (_peer, options) => {
        asked.push(options.protocol);
        return Promise.resolve(echoingExit());
      },
    },
    events: new RecordingSink(),
    limiter,
  });
  return { router, usage, tally, limiter, asked };
}

const request = {
  port: 1080,
  sessionId: "1080-1",
  signal: new AbortController().signal,
  account: "alice",
};

Deno.test("router: a UDP association is limited and counted per account like a CONNECT", async () => {
  const { router, usage, tally, limiter, asked } = await routerWithLimits();
  const first = await router.openUdp(request);
  assert.ok(first.ok, JSON.stringify(first));
  const second = await router.openUdp(request);
  assert.deepEqual(
    !second.ok && [second.replyCode, second.reason],
    [SOCKS_REPLY.notAllowed, "limit"],
    "the connection limit covers associations",
  );
  assert.equal(asked.length, 1, "the refused association asked no exit");

  const datagram = { host: "127.0.0.1", port: 9, data: new Uint8Array(1_000) };
  await first.stream.write(encodeUdpPacketFrame(datagram));
  const echoed = await new UdpFrameReader(first.stream).next();
  assert.equal(echoed?.kind, "datagram");
  first.stream.abort(); // the association ends: its slot comes back, its bytes are counted
  limiter.flush();

  const [record] = usage.records({ account: "alice" });
  assert.equal(record!.sessions, 1);
  assert.ok(record!.bytes_up > 1_000 && record!.bytes_up < 1_100, `up ${record!.bytes_up}`);
  assert.ok(record!.bytes_down > 1_000, `down ${record!.bytes_down}`);
  assert.ok(tally.used("1080/alice", "day", DAY) > 2_000, "the quota counts both ways");

  const overQuota = await router.openUdp(request);
  assert.deepEqual(
    !overQuota.ok && [overQuota.replyCode, overQuota.reason],
    [SOCKS_REPLY.notAllowed, "quota"],
    "2 KB used: the next association is refused",
  );
  assert.equal(asked.length, 1);
});
