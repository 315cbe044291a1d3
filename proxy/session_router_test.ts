/**
 * The proxy's half of one CONNECT (proxy/session_router.ts), on in-memory streams: a scripted
 * exit chooser, a stream opener handing out one end of a memory pair, and an exit speaking the
 * real connect protocol on the other end.
 */
import assert from "node:assert/strict";
import { SOCKS_REPLY } from "../core/codec/socks5.ts";
import type { ServerConfig } from "../core/config/proxy_config.ts";
import { NO_FILTERS } from "../core/domain/attributes.ts";
import type { PeerId } from "../core/ids.ts";
import type { SessionOutcome } from "../core/ports/inbound.ts";
import { type OpenOptions, StreamError } from "../core/ports/stream_opener.ts";
import { aPeerId } from "../core/testing/builders.ts";
import { RecordingSink } from "../core/testing/fakes.ts";
import { memoryStreamPair } from "../core/testing/memory_duplex.ts";
import {
  CONNECT_PROTOCOL,
  ConnectStatus,
  readConnectRequest,
  sendConnectResponse,
} from "../wire/connect_protocol.ts";
import {
  readUdpAssociateRequest,
  sendUdpAssociateResponse,
  UDP_PROTOCOL,
} from "../wire/udp_protocol.ts";
import { ExitSessionRouter } from "./session_router.ts";

const EXIT = aPeerId(1);
const PORT = 1080;

const SERVER: ServerConfig = {
  protocol: "socks5",
  port: PORT,
  bind: "127.0.0.1",
  users: [],
  allowAnonymous: false,
  usernameRouting: true,
  filters: NO_FILTERS,
  pinned: [],
  fallbackToDiscovery: false,
  sticky: true,
  stickyReconnect: "with-backoff",
  poolMaxTotal: 4,
  openTimeoutMs: 2_000,
  idleTimeoutMs: 0,
  handshakeTimeoutMs: 1_000,
  fingerprint: "f",
};

/** An exit that answers each ConnectRequest with `status`, recording what it was asked. */
function exitAnswering(status: ConnectStatus, asked: { host: string; port: number }[]) {
  return (opened: OpenOptions) => {
    assert.equal(opened.protocol, CONNECT_PROTOCOL);
    assert.equal(opened.maxConcurrent, SERVER.poolMaxTotal);
    const [proxyEnd, exitEnd] = memoryStreamPair();
    void (async () => {
      const { request } = await readConnectRequest(exitEnd, AbortSignal.timeout(2_000));
      asked.push({ host: request.host, port: request.port });
      await sendConnectResponse(exitEnd, {
        status,
        message: status === ConnectStatus.SUCCEEDED ? "" : "no",
        boundHost: "192.0.2.7",
        boundPort: 4242,
      });
    })();
    return proxyEnd;
  };
}

function routerWith(
  open: (options: OpenOptions) => ReturnType<typeof memoryStreamPair>[0],
  /** The port's exit; null when none comes. */
  exit: PeerId | null = EXIT,
) {
  const events = new RecordingSink();
  const unusable: PeerId[] = [];
  const router = new ExitSessionRouter({
    servers: [SERVER, { ...SERVER, port: 1081 }],
    routeless: new Map([[1081, "Port 1081 can never reach an exit."]]),
    exits: {
      exitForSession: () => Promise.resolve(exit ?? undefined),
      reportUnusable: (peer) => void unusable.push(peer),
    },
    streams: { open: (_peer, options) => Promise.resolve().then(() => open(options)) },
    events,
  });
  return { router, events, unusable };
}

const request = (port = PORT) => ({
  port,
  host: "dest.test",
  targetPort: 443,
  sessionId: "1080-1",
  signal: AbortSignal.timeout(5_000),
});

function failure(outcome: SessionOutcome) {
  assert.equal(outcome.ok, false);
  return outcome as Extract<SessionOutcome, { ok: false }>;
}

Deno.test("a confirmed exit: the router answers with the stream and the exit's bound address", async () => {
  const asked: { host: string; port: number }[] = [];
  const { router, events } = routerWith(exitAnswering(ConnectStatus.SUCCEEDED, asked));
  const outcome = await router.open(request());
  assert.ok(outcome.ok);
  assert.deepEqual([outcome.peerId, outcome.boundHost, outcome.boundPort], [
    EXIT,
    "192.0.2.7",
    4242,
  ]);
  assert.deepEqual(asked, [{ host: "dest.test", port: 443 }]);
  assert.equal(events.ofType("stream-opened").length, 1);
  outcome.stream.abort();
});

Deno.test("the exit's refusal is its status as the reply code; unknown statuses are 01", async () => {
  const refused = await routerWith(exitAnswering(ConnectStatus.CONNECTION_REFUSED, [])).router
    .open(request());
  assert.deepEqual(
    [failure(refused).stage, failure(refused).replyCode],
    ["refused", SOCKS_REPLY.connectionRefused],
  );
  const odd = await routerWith(exitAnswering(99 as ConnectStatus, [])).router.open(request());
  assert.equal(failure(odd).replyCode, SOCKS_REPLY.generalFailure);
});

Deno.test("no exit, a routeless port, an unknown port: general failure at no-peer", async () => {
  const never = () => assert.fail("no stream is opened");
  for (
    const [outcome, message] of [
      [await routerWith(never, null).router.open(request()), /No exit is available/],
      [await routerWith(never).router.open(request(1081)), /can never reach an exit/],
      [await routerWith(never).router.open(request(9999)), /no server/],
    ] as const
  ) {
    assert.equal(failure(outcome).stage, "no-peer");
    assert.equal(failure(outcome).replyCode, SOCKS_REPLY.generalFailure);
    assert.match(failure(outcome).message, message);
  }
});

Deno.test("an exit without the connect protocol is reported unusable; other open failures are not", async () => {
  const unsupported = routerWith(() => {
    throw new StreamError("unsupported-protocol", "The peer does not speak it.");
  });
  const outcome = await unsupported.router.open(request());
  assert.deepEqual([failure(outcome).stage, failure(outcome).peerId], ["stream", EXIT]);
  assert.deepEqual(unsupported.unusable, [EXIT]);
  assert.deepEqual(
    unsupported.events.ofType("stream-open-failed").map((e) => e.code),
    ["unsupported-protocol"],
  );
  const timedOut = routerWith(() => {
    throw new StreamError("open-timeout", "Too slow.");
  });
  assert.equal(failure(await timedOut.router.open(request())).stage, "stream");
  assert.deepEqual(timedOut.unusable, []);
});

Deno.test("relayed bytes become one bandwidth event per exit, then the counts start over", () => {
  const { router, events } = routerWith(() => assert.fail("no stream"));
  router.countBytes(EXIT, "up", 10);
  router.countBytes(EXIT, "down", 5);
  router.countBytes(EXIT, "up", 1);
  router.emitBandwidth();
  router.emitBandwidth();
  assert.deepEqual(events.ofType("bandwidth"), [{
    type: "bandwidth",
    peerId: EXIT,
    up: 11,
    down: 5,
  }]);
});

Deno.test("a session with its own selection gets that selection's exit, and a failed token says auth", async () => {
  const asked: { host: string; port: number }[] = [];
  const selections: unknown[] = [];
  const streams = {
    open: () =>
      Promise.resolve(
        exitAnswering(ConnectStatus.SUCCEEDED, asked)(
          { protocol: CONNECT_PROTOCOL, timeoutMs: 1_000, maxConcurrent: SERVER.poolMaxTotal },
        ),
      ),
  };
  const base = {
    servers: [SERVER],
    exits: {
      exitForSession: () => Promise.resolve(undefined),
      exitForSelection: (selection: unknown) => {
        selections.push(selection);
        return Promise.resolve(EXIT);
      },
      reportUnusable: () => {},
    },
    streams,
    events: new RecordingSink(),
    selectionLimits: { openTimeoutMs: 1_000, poolMaxTotal: SERVER.poolMaxTotal },
  };
  const selection = { filters: { ...NO_FILTERS, country: "DE" }, session: "s1" };
  const request = {
    port: 0,
    host: "dest.test",
    targetPort: 80,
    sessionId: "c-1",
    signal: AbortSignal.timeout(2_000),
    selection,
  };
  const ok = await new ExitSessionRouter(base).open(request);
  assert.ok(ok.ok);
  assert.equal(ok.peerId, EXIT);
  assert.deepEqual(selections, [selection], "the selection was asked, not a port");
  ok.stream.abort();

  const noToken = await new ExitSessionRouter({
    ...base,
    // Nothing reads the exit's end: the request is never sent.
    streams: { open: () => Promise.resolve(memoryStreamPair()[0]) },
    authenticator: { token: () => Promise.reject(new Error("The auth service said no.")) },
  }).open(request);
  assert.ok(!noToken.ok);
  assert.equal(noToken.reason, "auth");
  assert.match(noToken.message, /said no/);

  const none = await new ExitSessionRouter({
    ...base,
    exits: { ...base.exits, exitForSelection: () => Promise.resolve(undefined) },
  }).open(request);
  assert.ok(!none.ok);
  assert.equal(none.stage, "no-peer");
  assert.match(none.message, /country=DE.*session "s1"/);
});

/** An exit answering each UDP association request with `status`, recording the tokens. */
function udpExitAnswering(status: ConnectStatus, tokens: string[]) {
  return (opened: OpenOptions) => {
    assert.equal(opened.protocol, UDP_PROTOCOL);
    assert.equal(opened.lazy, true);
    const [proxyEnd, exitEnd] = memoryStreamPair();
    void (async () => {
      const request = await readUdpAssociateRequest(exitEnd, AbortSignal.timeout(2_000));
      tokens.push(request.token);
      await sendUdpAssociateResponse(exitEnd, { status, message: "at its limit", reason: "limit" });
    })();
    return proxyEnd;
  };
}

Deno.test("a UDP association takes the port's exit over the UDP protocol; a refusal is its status", async () => {
  const tokens: string[] = [];
  const { router } = routerWith(udpExitAnswering(ConnectStatus.SUCCEEDED, tokens));
  const { host: _host, targetPort: _targetPort, ...udpRequest } = request();
  const ok = await router.openUdp(udpRequest);
  assert.ok(ok.ok);
  assert.equal(ok.peerId, EXIT);
  assert.deepEqual(tokens, [""], "auth off: an empty token");
  ok.stream.abort();

  const refused = await routerWith(udpExitAnswering(ConnectStatus.GENERAL_FAILURE, tokens)).router
    .openUdp(udpRequest);
  assert.ok(!refused.ok);
  assert.deepEqual(
    [refused.stage, refused.replyCode, refused.reason, refused.message],
    ["refused", SOCKS_REPLY.generalFailure, "limit", "at its limit"],
  );

  const noExit = await routerWith(udpExitAnswering(ConnectStatus.SUCCEEDED, tokens), null).router
    .openUdp(udpRequest);
  assert.ok(!noExit.ok);
  assert.equal(noExit.stage, "no-peer");
});

Deno.test("a UDP association the exit never answers is reported as a timeout, like a CONNECT", async () => {
  // An exit that takes the stream and stays silent: only the open timeout ends the wait.
  const silentExit = () => {
    const [proxyEnd] = memoryStreamPair();
    return proxyEnd;
  };
  const quick = { ...SERVER, openTimeoutMs: 50 };
  const router = new ExitSessionRouter({
    servers: [quick],
    exits: {
      exitForSession: () => Promise.resolve(EXIT),
      reportUnusable: () => {},
    },
    streams: { open: () => Promise.resolve(silentExit()) },
    events: new RecordingSink(),
  });
  const { host: _host, targetPort: _targetPort, ...udpRequest } = request();

  const udp = await router.openUdp(udpRequest);
  assert.ok(!udp.ok);
  assert.deepEqual(
    [udp.stage, udp.reason, udp.peerId],
    ["stream", "timeout", EXIT],
    `a silent exit is a timeout (HTTP 504), got ${JSON.stringify(udp)}`,
  );
  const connect = failure(await router.open(request()));
  assert.deepEqual([connect.stage, connect.reason], [udp.stage, udp.reason]);
});
