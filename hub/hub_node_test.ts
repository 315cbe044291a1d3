import assert from "node:assert/strict";
import { NO_FILTERS } from "../core/domain/attributes.ts";
import { isRelayedAddress } from "../core/ids.ts";
import type { DuplexStream } from "../core/ports/stream_opener.ts";
import { someAttributes } from "../core/testing/builders.ts";
import { FakeClock } from "../core/testing/fakes.ts";
import { SystemClock } from "../plugins/clock-system/system_clock.ts";
import { FileIdentity } from "../plugins/identity-file/file_identity.ts";
import type { Libp2pNetwork } from "../plugins/network-libp2p/libp2p_network.ts";
import { ExitRegistrar } from "../exit/exit_registrar.ts";
import { HubDirectory } from "../plugins/directory-hub/hub_directory.ts";
import { registerOnce, type TestHub, TestNet } from "./_testing.ts";

const TEST_PROTOCOL = "/p2proxy-test/sink/1.0.0";
const CHUNK_BYTES = 64 * 1024;
const MiB = 1024 * 1024;

/** Serves a protocol that counts what it receives and answers the count when the sender closes. */
async function serveSink(node: Libp2pNetwork): Promise<{ received: () => number }> {
  let received = 0;
  await node.handle(TEST_PROTOCOL, async (stream) => {
    try {
      for (let chunk = await stream.read(); chunk; chunk = await stream.read()) {
        received += chunk.byteLength;
      }
      await stream.write(new TextEncoder().encode(String(received)));
      await stream.closeWrite();
    } catch {
      stream.abort();
    }
  });
  return { received: () => received };
}

/** Sends `bytes` and reads the count back; rejects when the stream is cut. */
async function sendThrough(stream: DuplexStream, bytes: number): Promise<number> {
  const chunk = new Uint8Array(CHUNK_BYTES);
  for (let sent = 0; sent < bytes; sent += CHUNK_BYTES) await stream.write(chunk);
  await stream.closeWrite();
  const reply = await stream.read();
  if (reply === null) throw new Error("The stream ended without a reply.");
  return Number(new TextDecoder().decode(reply));
}

/** Polls `condition` every 20 ms for up to 3 s. */
async function waitUntil(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 20) {
    if (waited > 3_000) assert.fail("The condition did not become true within 3 s.");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** An exit that listens only through the hub's relay (an exit behind NAT, `relay: always`). */
async function relayedExit(net: TestNet, hub: TestHub): Promise<Libp2pNetwork> {
  const exit = await net.node({ listen: [`${hub.address}/p2p-circuit`] });
  assert.deepEqual(exit.addresses(), [`${hub.address}/p2p-circuit/p2p/${exit.peerId}`]);
  assert.equal(hub.network.relayServer?.hasReservation(exit.peerId), true);
  return exit;
}

Deno.test("a registered exit behind the relay is found and carries 100 MiB through it", async () => {
  const net = new TestNet();
  let registrar: ExitRegistrar | undefined;
  try {
    const hub = await net.hub();
    const exit = await relayedExit(net, hub);
    const sink = await serveSink(exit);
    registrar = ExitRegistrar.start({
      network: exit,
      hubs: [hub.address],
      attributes: someAttributes({ country: "JP" }),
      heartbeatIntervalMs: 30_000,
      clock: new SystemClock(),
    });
    await registrar.whenRegistered(AbortSignal.timeout(5_000));
    const record = await hub.registry.get(exit.peerId);
    assert.equal(record?.relayed, true);
    assert.deepEqual(record?.addresses, []);
    // Registered: the hub lifted the relay limits (0 = unlimited in the test config).
    assert.deepEqual(hub.network.relayServer?.reservationLimits(exit.peerId), {
      dataLimitBytes: 0,
      durationLimitMs: 0,
    });

    const proxy = await net.node();
    const directory = new HubDirectory({ network: proxy, hubs: [hub.address] });
    const [found] = await directory.findNodes({
      filters: { ...NO_FILTERS, country: "JP" },
      limit: 5,
      exclude: [],
    });
    assert.equal(found?.peerId, exit.peerId);
    assert.deepEqual(found?.routes, [`${hub.address}/p2p-circuit/p2p/${exit.peerId}`]);

    const peer = await proxy.dialAny(found.routes);
    assert.equal(peer, exit.peerId);
    assert.equal(proxy.connectedRoute(peer)?.relayed, true);
    const stream = await proxy.open(peer, {
      protocol: TEST_PROTOCOL,
      timeoutMs: 5_000,
      maxConcurrent: 1,
    });
    const total = 100 * MiB;
    assert.equal(await sendThrough(stream, total), total);
    assert.equal(sink.received(), total);
    const metrics = await hub.hub.metrics();
    assert.equal(metrics.registeredExits, 1);
    assert.equal(metrics.raisedRelayLimits, 1);
    assert.equal(metrics.relayReservations, 1);
  } finally {
    await registrar?.stop();
    await net.close();
  }
});

Deno.test("a peer holding a reservation without registering gets only the default relay limit", async () => {
  const net = new TestNet();
  try {
    const hub = await net.hub();
    const stranger = await relayedExit(net, hub);
    const sink = await serveSink(stranger);
    assert.deepEqual(hub.network.relayServer?.reservationLimits(stranger.peerId), {
      dataLimitBytes: 131_072,
      durationLimitMs: 120_000,
    });
    const proxy = await net.node();
    const peer = await proxy.dialAny(
      [`${hub.address}/p2p-circuit/p2p/${stranger.peerId}`] as never,
    );
    const stream = await proxy.open(peer, {
      protocol: TEST_PROTOCOL,
      timeoutMs: 5_000,
      maxConcurrent: 1,
    });
    await assert.rejects(sendThrough(stream, 4 * MiB));
    assert.ok(sink.received() <= 131_072, `${sink.received()} bytes got through`);
  } finally {
    await net.close();
  }
});

Deno.test("relay limits follow registration: raised on register and reservation, restored on expiry", async () => {
  const net = new TestNet();
  const clock = new FakeClock(Date.now());
  try {
    const hub = await net.hub({ clock, config: { heartbeatIntervalMs: 1_000 } });
    const relay = hub.network.relayServer;
    assert.ok(relay);
    const defaults = { dataLimitBytes: 131_072, durationLimitMs: 120_000 };

    const unlimited = { dataLimitBytes: 0, durationLimitMs: 0 };

    // Reserved, then registered: raised at once.
    const exit = await net.node({ listen: [`${hub.address}/p2p-circuit`] });
    assert.deepEqual(relay.reservationLimits(exit.peerId), defaults);
    await registerOnce(exit, hub, someAttributes(), { addresses: [], relayed: true });
    assert.deepEqual(relay.reservationLimits(exit.peerId), unlimited);

    // Registered, then reserved (as after a hub restart, or through a hub sharing the registry):
    // raised when the reservation is made.
    const identity = await FileIdentity.generate();
    const before = await net.node({}, identity);
    await registerOnce(before, hub, someAttributes(), { addresses: [], relayed: true });
    await before.stop();
    const later = await net.node({ listen: [`${hub.address}/p2p-circuit`] }, identity);
    await waitUntil(() => relay.reservationLimits(later.peerId)?.dataLimitBytes === 0);
    assert.deepEqual(relay.reservationLimits(later.peerId), unlimited);

    clock.advance(3_000);
    const removed = await hub.hub.sweep();
    assert.deepEqual(new Set(removed), new Set([exit.peerId, later.peerId]));
    assert.deepEqual(relay.reservationLimits(exit.peerId), defaults);
    assert.deepEqual(relay.reservationLimits(later.peerId), defaults);
    const directory = new HubDirectory({ network: await net.node(), hubs: [hub.address] });
    assert.deepEqual(await directory.findNodes({ filters: NO_FILTERS, limit: 5, exclude: [] }), []);
  } finally {
    await net.close();
  }
});

Deno.test("the hub synthesises a circuit for an exit holding a reservation, after its direct routes", async () => {
  const net = new TestNet();
  try {
    const hub = await net.hub();
    const exit = await net.node({ listen: ["/ip4/127.0.0.1/tcp/0", `${hub.address}/p2p-circuit`] });
    await registerOnce(exit, hub, someAttributes(), {
      addresses: exit.addresses().filter((a) => !isRelayedAddress(a)),
    });
    const directory = new HubDirectory({ network: await net.node(), hubs: [hub.address] });
    const routes = await directory.resolvePeers([exit.peerId]);
    const direct = exit.addresses().filter((a) => !isRelayedAddress(a));
    assert.deepEqual(routes.get(exit.peerId), [
      ...direct,
      `${hub.address}/p2p-circuit/p2p/${exit.peerId}`,
    ]);
  } finally {
    await net.close();
  }
});

Deno.test("an exit behind the relay reserves and registers again after the hub restarts", async () => {
  const net = new TestNet();
  let registrar: ExitRegistrar | undefined;
  try {
    const first = await net.hub();
    const port = /\/tcp\/(\d+)\//.exec(first.address)?.[1];
    const exit = await relayedExit(net, first);
    registrar = ExitRegistrar.start({
      network: exit,
      hubs: [first.address],
      attributes: someAttributes(),
      heartbeatIntervalMs: 60_000,
      clock: new SystemClock(),
    });
    await registrar.whenRegistered(AbortSignal.timeout(5_000));
    const again = registrar.whenRegistered(AbortSignal.timeout(15_000));
    await first.stop();
    await waitUntil(() => exit.addresses().length === 0);

    const second = await net.hub({
      identity: first.identity,
      listen: `/ip4/127.0.0.1/tcp/${port}`,
    });
    await again;
    await waitUntil(() => second.network.relayServer?.hasReservation(exit.peerId) === true);
    await waitUntil(() => exit.addresses().length === 1);
    assert.equal((await second.registry.get(exit.peerId))?.addresses.length, 0);
    // The registration may have raced the new reservation; either way the limits end up raised.
    await waitUntil(() =>
      second.network.relayServer?.reservationLimits(exit.peerId)?.dataLimitBytes === 0
    );
  } finally {
    await registrar?.stop();
    await net.close();
  }
});
