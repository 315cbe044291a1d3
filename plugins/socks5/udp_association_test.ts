/**
 * The door's half of UDP ASSOCIATE with real loopback sockets (a TCP control connection, the
 * relay socket, the client's UDP socket) and the test playing the exit behind the router port.
 */
import assert from "node:assert/strict";
import { parseReply, type Socks5Request, SOCKS_REPLY } from "../../core/codec/socks5.ts";
import { encodeUdpDatagram, parseUdpDatagram } from "../../core/codec/socks5_udp.ts";
import { loadProxyConfig, type ServerConfig } from "../../core/config/proxy_config.ts";
import type {
  SessionRouter,
  UdpAssociationOutcome,
  UdpAssociationRequest,
} from "../../core/ports/inbound.ts";
import type { DuplexStream } from "../../core/ports/stream_opener.ts";
import { aPeerId, aServer } from "../../core/testing/builders.ts";
import { RecordingSink } from "../../core/testing/fakes.ts";
import { memoryStreamPair } from "../../core/testing/memory_duplex.ts";
import { closeQuietly } from "../../wire/tcp_conn.ts";
import { encodeUdpPacketFrame, UdpFrameReader } from "../../wire/udp_protocol.ts";
import {
  DEFAULT_UDP_ASSOCIATION_LIMITS,
  serveUdpAssociation,
  type UdpAssociationLimits,
} from "./udp_association.ts";

const PEER = aPeerId(1);
const WAIT_MS = 5_000;
/** A hub address for configs loaded here (never dialled). */
const HUB = "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWC3iW81qrVSaGPV7aErQtDGMYg7R9hobpS4euNDi9b56S";

const SERVER: ServerConfig = {
  ...aServer(),
  protocol: "socks5",
  bind: "127.0.0.1",
  users: [],
  allowAnonymous: false,
  usernameRouting: true,
  openTimeoutMs: 1_000,
  idleTimeoutMs: 0,
  handshakeTimeoutMs: 1_000,
  fingerprint: "test",
};

const REQUEST: Socks5Request = {
  command: "udp-associate",
  commandCode: 3,
  host: "0.0.0.0",
  port: 0,
  addressType: "ipv4",
};

/** A router whose exit is the test: `exit` is the far end of the association's stream. */
function routerWithExit(): {
  router: SessionRouter;
  exit: Promise<DuplexStream>;
  asked: UdpAssociationRequest[];
} {
  const asked: UdpAssociationRequest[] = [];
  let handOver!: (stream: DuplexStream) => void;
  const exit = new Promise<DuplexStream>((resolve) => handOver = resolve);
  const router: SessionRouter = {
    open: () => Promise.reject(new Error("no CONNECT in this test")),
    openUdp(request): Promise<UdpAssociationOutcome> {
      asked.push(request);
      const [door, far] = memoryStreamPair();
      handOver(far);
      return Promise.resolve({ ok: true, stream: door, peerId: PEER });
    },
  };
  return { router, exit, asked };
}

/** Starts a door association on a real TCP connection; returns the client's ends. */
async function associate(
  router: SessionRouter,
  limits?: UdpAssociationLimits,
  server: ServerConfig = SERVER,
) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const conn = await listener.accept();
  listener.close();
  const events = new RecordingSink();
  const abort = new AbortController();
  const served = serveUdpAssociation(conn, server, { router, events }, {
    request: REQUEST,
    sessionId: "1080-1",
    signal: abort.signal,
    ...(limits ? { limits } : {}),
  }).finally(() => closeQuietly(conn)); // The door closes it when the association ends.
  const buffer = new Uint8Array(300);
  const n = await client.read(buffer);
  const reply = parseReply(buffer.subarray(0, n ?? 0));
  assert.equal(reply.kind, "ok");
  if (reply.kind !== "ok") throw new Error("unreachable");
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const relay: Deno.NetAddr = {
    transport: "udp",
    hostname: reply.value.host,
    port: reply.value.port,
  };
  return { client, socket, relay, served, events, abort, code: reply.value.code };
}

/** The control connection's end: read returns null (closed by the door) within the wait. */
async function assertClosedByDoor(client: Deno.TcpConn): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const read = await Promise.race([
    client.read(new Uint8Array(16)).catch(() => null),
    new Promise<"open">((resolve) => timer = setTimeout(() => resolve("open"), WAIT_MS)),
  ]);
  clearTimeout(timer);
  assert.equal(read, null, "the door kept the control connection open");
}

Deno.test("a datagram goes to the exit as a frame; the reply comes back wrapped, to the client", async () => {
  const { router, exit, asked } = routerWithExit();
  const { client, socket, relay, served, events, code } = await associate(router);
  try {
    assert.equal(code, SOCKS_REPLY.succeeded);
    assert.equal(relay.hostname, "127.0.0.1");
    assert.equal(asked[0]?.port, SERVER.port, "the association asks for the port's exit");
    await socket.send(
      encodeUdpDatagram({ host: "dns.test", port: 53, data: Uint8Array.of(1, 2) }),
      relay,
    );
    const far = await exit;
    const frames = new UdpFrameReader(far);
    const frame = await frames.next();
    assert.deepEqual(
      frame?.kind === "datagram" ? { ...frame.packet, data: [...frame.packet.data] } : frame,
      { host: "dns.test", port: 53, data: [1, 2] },
    );
    await far.write(
      encodeUdpPacketFrame({ host: "192.0.2.1", port: 53, data: Uint8Array.of(9) }),
    );
    const [back, from] = await socket.receive();
    assert.equal((from as Deno.NetAddr).port, relay.port);
    const parsed = parseUdpDatagram(back);
    assert.deepEqual([parsed.host, parsed.port, [...parsed.data]], ["192.0.2.1", 53, [9]]);
  } finally {
    client.close();
    await served;
    socket.close();
  }
  const [end] = events.ofType("udp-association-end");
  assert.deepEqual(
    end && [end.side, end.reason, end.datagramsUp, end.datagramsDown, end.bytesUp, end.bytesDown],
    ["proxy", "closed", 1, 1, 2, 1],
  );
});

Deno.test("silence for the idle timeout ends the association and closes the control connection", async () => {
  const { router, exit } = routerWithExit();
  const { client, socket, served, events } = await associate(router, {
    ...DEFAULT_UDP_ASSOCIATION_LIMITS,
    idleTimeoutMs: 100,
  });
  try {
    await assertClosedByDoor(client);
    await served;
    // The exit's end of the stream sees the reset.
    await assert.rejects((await exit).read());
    assert.equal(events.ofType("udp-association-end")[0]?.reason, "idle");
  } finally {
    client.close();
    socket.close();
  }
});

Deno.test("a server's udp keys from the config bound its associations (idle_timeout_secs, max_datagrams_per_sec)", async () => {
  const config = loadProxyConfig(
    `bootstrap: ["${HUB}"]\nservers:\n  - port: 1080\n    protocol: socks5\n` +
      "    udp: { idle_timeout_secs: 0.3, max_datagrams_per_sec: 2 }\n",
    { source: "Config.yaml" },
  );
  const server = config.servers[0]!;
  const { router, exit } = routerWithExit();
  const { client, socket, relay, served, events } = await associate(router, undefined, server);
  try {
    const far = await exit;
    const frames = new UdpFrameReader(far);
    for (let i = 0; i < 5; i++) {
      await socket.send(
        encodeUdpDatagram({ host: "127.0.0.1", port: 9, data: Uint8Array.of(i) }),
        relay,
      );
    }
    // Two datagrams a second pass; the other three are dropped and counted.
    for (let i = 0; i < 2; i++) assert.ok(await frames.next(), `datagram ${i} reached the exit`);
    await assertClosedByDoor(client);
    await served;
    const end = events.ofType("udp-association-end")[0];
    assert.equal(end?.reason, "idle", "0.3 s of silence ended it, not the default 2 minutes");
    assert.equal(end?.datagramsUp, 2);
    assert.equal(end?.dropped, 3);
  } finally {
    client.close();
    socket.close();
  }
});

Deno.test("FRAG ≠ 0, malformed headers and other senders are dropped and counted", async () => {
  const { router, exit } = routerWithExit();
  const { client, socket, relay, served, events } = await associate(router);
  const stranger = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const far = await exit;
    const frames = new UdpFrameReader(far);
    // The first datagram fixes the client's port; the stranger's is dropped after it.
    await socket.send(
      encodeUdpDatagram({ host: "h.test", port: 1, data: Uint8Array.of(1) }),
      relay,
    );
    await socket.send(
      encodeUdpDatagram({ host: "h.test", port: 2, data: Uint8Array.of(2), frag: 1 }),
      relay,
    );
    await socket.send(Uint8Array.of(0, 0, 0, 9), relay);
    await stranger.send(
      encodeUdpDatagram({ host: "h.test", port: 3, data: Uint8Array.of(3) }),
      relay,
    );
    await socket.send(
      encodeUdpDatagram({ host: "h.test", port: 4, data: Uint8Array.of(4) }),
      relay,
    );
    const ports = [];
    for (let i = 0; i < 2; i++) {
      const frame = await frames.next();
      if (frame?.kind === "datagram") ports.push(frame.packet.port);
    }
    assert.deepEqual(ports, [1, 4], "only whole datagrams from the client pass, in order");
  } finally {
    client.close();
    await served;
    socket.close();
    stranger.close();
  }
  assert.equal(events.ofType("udp-association-end")[0]?.dropped, 3);
});

Deno.test("the proxy stopping ends the association", async () => {
  const { router } = routerWithExit();
  const { client, socket, served, events, abort } = await associate(router);
  try {
    abort.abort();
    await assertClosedByDoor(client);
    await served;
    assert.equal(events.ofType("udp-association-end")[0]?.reason, "shutdown");
  } finally {
    client.close();
    socket.close();
  }
});

Deno.test("a router without UDP, or an exit that refuses, answers with a reply code", async () => {
  const noUdp: SessionRouter = { open: () => Promise.reject(new Error("unused")) };
  const first = await associate(noUdp);
  assert.equal(first.code, SOCKS_REPLY.commandNotSupported);
  await first.served;
  first.client.close();
  first.socket.close();

  const refusing: SessionRouter = {
    open: () => Promise.reject(new Error("unused")),
    openUdp: () =>
      Promise.resolve({
        ok: false,
        replyCode: SOCKS_REPLY.notAllowed,
        stage: "refused",
        message: "auth",
        peerId: PEER,
      }),
  };
  const second = await associate(refusing);
  assert.equal(second.code, SOCKS_REPLY.notAllowed);
  await second.served;
  second.client.close();
  second.socket.close();
});
