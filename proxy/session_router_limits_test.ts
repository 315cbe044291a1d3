/**
 * The session router with limits (docs/limits.md): a refusal by the account's limits never reaches
 * an exit, and an exit that says `full` is reported and passed over for another.
 */
import assert from "node:assert/strict";
import { SOCKS_REPLY } from "../core/codec/socks5.ts";
import { loadProxyConfig } from "../core/config/proxy_config.ts";
import type { PeerId } from "../core/ids.ts";
import { aPeerId } from "../core/testing/builders.ts";
import { RecordingSink } from "../core/testing/fakes.ts";
import { memoryStreamPair } from "../core/testing/memory_duplex.ts";
import {
  ConnectStatus,
  readConnectRequest,
  sendConnectResponse,
} from "../wire/connect_protocol.ts";
import { QuotaTally } from "./quota_tally.ts";
import { AccountLimiter } from "./account_limiter.ts";
import { ExitSessionRouter } from "./session_router.ts";
import { UsageBook } from "./usage_book.ts";

const FULL_EXIT = aPeerId(1);
const OTHER_EXIT = aPeerId(2);
const HUB = "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWC3iW81qrVSaGPV7aErQtDGMYg7R9hobpS4euNDi9b56S";

const SERVERS = loadProxyConfig(
  "servers: [{ port: 1080, limits: { connections: 1 } }]",
  { source: "Config.yaml", env: { P2PROXY_BOOTSTRAP: HUB } },
).servers;

/** An exit on a memory stream: `full` refuses with reason full, else it confirms. */
function exitStream(full: boolean) {
  const [proxyEnd, exitEnd] = memoryStreamPair();
  void (async () => {
    await readConnectRequest(exitEnd, AbortSignal.timeout(2_000));
    await sendConnectResponse(
      exitEnd,
      full
        ? { status: ConnectStatus.GENERAL_FAILURE, reason: "full", message: "full" }
        : { status: ConnectStatus.SUCCEEDED, boundHost: "192.0.2.7", boundPort: 1 },
    );
  })();
  return proxyEnd;
}

async function routerWithTwoExits() {
  let active: PeerId = FULL_EXIT;
  const reportedFull: PeerId[] = [];
  const asked: PeerId[] = [];
  const limiter = new AccountLimiter(
    SERVERS,
    () => Date.now(),
    await QuotaTally.inMemory(() => Date.now()),
    new UsageBook(() => Date.now()),
  );
  const router = new ExitSessionRouter({
    servers: SERVERS,
    exits: {
      exitForSession: () => Promise.resolve(active),
      reportUnusable: () => {},
      reportFull: (peer) => {
        reportedFull.push(peer);
        active = OTHER_EXIT;
      },
    },
    streams: {
      open: (peer) => {
        asked.push(peer);
        return Promise.resolve(exitStream(peer === FULL_EXIT));
      },
    },
    events: new RecordingSink(),
    limiter,
  });
  return { router, reportedFull, asked };
}

const request = (account: string) => ({
  port: 1080,
  host: "example.com",
  targetPort: 80,
  sessionId: "1080-1",
  signal: new AbortController().signal,
  account,
});

Deno.test("router: an exit that says full is reported and passed over; the client gets the other", async () => {
  const { router, reportedFull, asked } = await routerWithTwoExits();
  const outcome = await router.open(request("alice"));
  assert.ok(outcome.ok, JSON.stringify(outcome));
  assert.equal(outcome.peerId, OTHER_EXIT);
  assert.deepEqual(reportedFull, [FULL_EXIT]);
  assert.deepEqual(asked, [FULL_EXIT, OTHER_EXIT]);
  outcome.stream.abort();
});

Deno.test("router: over the account's connections, refused with reason limit before any exit", async () => {
  const { router, asked } = await routerWithTwoExits();
  const first = await router.open(request("alice"));
  assert.ok(first.ok);
  const second = await router.open(request("alice"));
  assert.equal(second.ok, false);
  assert.deepEqual(
    !second.ok && [second.replyCode, second.stage, second.reason],
    [SOCKS_REPLY.notAllowed, "refused", "limit"],
  );
  assert.equal(asked.length, 2, "the refused session asked no exit");
  first.stream.abort(); // the session ends: its slot comes back
  const third = await router.open(request("alice"));
  assert.ok(third.ok, "the slot came back when the first session's stream ended");
  third.stream.abort();
});
