/**
 * The exit's half of UDP associations with real UDP sockets on loopback, the test playing the
 * proxy on the association's stream.
 */
import assert from "node:assert/strict";
import { createEgressPolicy } from "../core/domain/egress_policy.ts";
import type { Multiaddr } from "../core/ids.ts";
import type { DuplexStream } from "../core/ports/stream_opener.ts";
import { aPeerId } from "../core/testing/builders.ts";
import { RecordingSink } from "../core/testing/fakes.ts";
import { memoryStreamPair } from "../core/testing/memory_duplex.ts";
import {
  ConnectStatus,
  encodeUdpPacketFrame,
  requestUdpAssociation,
  type UdpFrame,
  UdpFrameReader,
} from "../wire/udp_protocol.ts";
import { UdpExitService, type UdpExitServiceOptions } from "./udp_exit_service.ts";

const PROXY = aPeerId(2);
const text = new TextEncoder();
const untext = new TextDecoder();

/** A UDP echo on 127.0.0.1 that answers with the source it saw. */
function udpEcho() {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const seen: Deno.NetAddr[] = [];
  const loop = (async () => {
    while (true) {
      try {
        const [data, from] = await socket.receive();
        seen.push(from as Deno.NetAddr);
        await socket.send(text.encode(`echo ${untext.decode(data)}`), from);
      } catch {
        return;
      }
    }
  })();
  return {
    socket,
    seen,
    port: (socket.addr as Deno.NetAddr).port,
    close: async () => {
      socket.close();
      await loop;
    },
  };
}

function service(events: RecordingSink, overrides: Partial<UdpExitServiceOptions> = {}) {
  return new UdpExitService({
    egress: createEgressPolicy({ allowCidrs: ["127.0.0.0/8"], denyPorts: [25] }),
    events,
    resolver: { resolve: (host) => Promise.resolve(host === "echo.test" ? ["127.0.0.1"] : []) },
    maxAssociations: 2,
    maxAssociationsPerPeer: 2,
    bindAddress: "127.0.0.1",
    ...overrides,
  });
}

/** Opens an association on `exit`; returns the proxy's end and its frame reader. */
async function associate(exit: UdpExitService) {
  const [proxy, far] = memoryStreamPair();
  exit.handler(far, {
    peerId: PROXY,
    address: "/ip4/127.0.0.1/tcp/1" as Multiaddr,
    relayed: false,
    direction: "inbound",
  });
  const reply = await requestUdpAssociation(
    proxy,
    { token: "", sessionId: "1080-9" },
    AbortSignal.timeout(5_000),
  );
  // As the session router does: a refused association's stream is reset, which ends the exit's
  // wait for our side's end.
  if (reply.status !== ConnectStatus.SUCCEEDED) proxy.abort();
  return { proxy: reply.stream, status: reply.status, frames: new UdpFrameReader(reply.stream) };
}

async function nextWithin(frames: UdpFrameReader, ms = 5_000): Promise<UdpFrame | null | "none"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      frames.next(),
      new Promise<"none">((resolve) => timer = setTimeout(() => resolve("none"), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}.`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("datagrams leave from bind_address; replies come back from the ends sent to only", async () => {
  const events = new RecordingSink();
  const exit = service(events);
  const echo = udpEcho();
  const stranger = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  let proxy: DuplexStream | undefined;
  try {
    const association = await associate(exit);
    proxy = association.proxy;
    assert.equal(association.status, ConnectStatus.SUCCEEDED);
    await proxy.write(
      encodeUdpPacketFrame({ host: "echo.test", port: echo.port, data: text.encode("hi") }),
    );
    const frame = await nextWithin(association.frames);
    assert.ok(
      frame && frame !== "none" && frame.kind === "datagram",
      `got ${JSON.stringify(frame)}`,
    );
    assert.equal(frame.packet.host, "127.0.0.1");
    assert.equal(frame.packet.port, echo.port);
    assert.equal(untext.decode(frame.packet.data), "echo hi");
    const exitSocket = echo.seen[0]!;
    assert.equal(exitSocket.hostname, "127.0.0.1");
    // Another host's datagram to the exit's socket is not relayed to the proxy.
    await stranger.send(text.encode("unsolicited"), exitSocket);
    assert.equal(await nextWithin(association.frames, 300), "none");
  } finally {
    proxy?.abort();
    await waitFor(() => exit.activeAssociations === 0, "the association to end");
    stranger.close();
    await echo.close();
  }
  const [end] = events.ofType("udp-association-end");
  assert.deepEqual(end && [end.side, end.datagramsUp, end.datagramsDown, end.dropped], [
    "exit",
    1,
    1,
    1,
  ]);
});

Deno.test("a denied destination is refused once per destination, counted each time", async () => {
  const events = new RecordingSink();
  const exit = service(events);
  const association = await associate(exit);
  try {
    for (let i = 0; i < 2; i++) {
      await association.proxy.write(
        encodeUdpPacketFrame({ host: "127.0.0.1", port: 25, data: text.encode("mail") }),
      );
    }
    await association.proxy.write(
      encodeUdpPacketFrame({ host: "10.1.2.3", port: 53, data: text.encode("private") }),
    );
    await association.proxy.write(
      encodeUdpPacketFrame({ host: "unknown.test", port: 53, data: text.encode("nx") }),
    );
    const reasons = [];
    for (let i = 0; i < 3; i++) {
      const frame = await nextWithin(association.frames);
      assert.ok(frame && frame !== "none" && frame.kind === "refused");
      reasons.push(frame.refusal.reason);
    }
    assert.deepEqual(reasons, ["denied-port", "denied-range", "no-addresses"]);
    assert.equal(await nextWithin(association.frames, 200), "none", "a second refusal of port 25");
    assert.deepEqual(events.ofType("exit-denied").map((e) => e.target), [
      "udp 127.0.0.1:25",
      "udp 10.1.2.3:53",
      "udp unknown.test:53",
    ]);
  } finally {
    association.proxy.abort();
    await waitFor(() => exit.activeAssociations === 0, "the association to end");
  }
  assert.equal(events.ofType("udp-association-end")[0]?.dropped, 4);
});

Deno.test("silence ends the association (idle), and the limits refuse with a status", async () => {
  const events = new RecordingSink();
  const exit = service(events, { idleTimeoutMs: 100, maxAssociations: 1 });
  const first = await associate(exit);
  const second = await associate(exit);
  assert.equal(second.status, ConnectStatus.GENERAL_FAILURE);
  assert.equal(events.ofType("exit-denied")[0]?.reason, "limit");
  await assert.rejects(nextWithin(first.frames), "the exit reset the idle stream");
  await waitFor(() => exit.activeAssociations === 0, "the association to end");
  assert.equal(events.ofType("udp-association-end")[0]?.reason, "idle");
  exit.close();
  const late = await associate(exit);
  assert.equal(late.status, ConnectStatus.GENERAL_FAILURE, "a closed exit refuses");
});
