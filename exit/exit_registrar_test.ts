import assert from "node:assert/strict";
import { asMultiaddr, asPeerId } from "../core/ids.ts";
import { someAttributes } from "../core/testing/builders.ts";
import { RecordingSink } from "../core/testing/fakes.ts";
import { SystemClock } from "../plugins/clock-system/system_clock.ts";
import { directAddresses, ExitRegistrar, listensThrough } from "./exit_registrar.ts";
import { TestNet } from "../hub/_testing.ts";

const clock = new SystemClock();

Deno.test("ExitRegistrar registers at start and on every heartbeat the hub announces", async () => {
  const net = new TestNet();
  let registrar: ExitRegistrar | undefined;
  try {
    const hub = await net.hub({ config: { heartbeatIntervalMs: 1_000 } });
    const exit = await net.node();
    const events = new RecordingSink();
    registrar = ExitRegistrar.start({
      network: exit,
      hubs: [hub.address],
      attributes: someAttributes({ country: "DE" }),
      // The hub's answer (1 s) replaces this.
      heartbeatIntervalMs: 60_000,
      clock,
      events,
    });
    await registrar.whenRegistered(AbortSignal.timeout(5_000));
    const record = await hub.registry.get(exit.peerId);
    assert.equal(record?.attributes.country, "DE");
    assert.deepEqual(record?.addresses, exit.addresses());
    assert.equal(record?.relayed, false);
    const [status] = registrar.status();
    assert.equal(status?.registered, true);
    assert.equal(status?.heartbeatIntervalMs, 1_000);

    await registrar.whenRegistered(AbortSignal.timeout(5_000));
    const renewed = await hub.registry.get(exit.peerId);
    assert.ok(renewed && record && renewed.lastSeenAt > record.lastSeenAt);
    assert.equal(renewed?.registeredAt, record?.registeredAt);
    const registrations = events.ofType("hub-registration");
    assert.ok(registrations.length >= 2, "one event per registration");
    assert.deepEqual(registrations[0], {
      type: "hub-registration",
      hub: hub.network.peerId,
      registered: true,
      failures: 0,
    });
  } finally {
    await registrar?.stop();
    await net.close();
  }
});

Deno.test("ExitRegistrar registers again promptly after the hub restarts", async () => {
  const net = new TestNet();
  let registrar: ExitRegistrar | undefined;
  try {
    const first = await net.hub();
    const port = /\/tcp\/(\d+)\//.exec(first.address)?.[1];
    assert.ok(port);
    const exit = await net.node();
    registrar = ExitRegistrar.start({
      network: exit,
      hubs: [first.address],
      attributes: someAttributes(),
      heartbeatIntervalMs: 60_000,
      clock,
    });
    await registrar.whenRegistered(AbortSignal.timeout(5_000));
    assert.ok(await first.registry.get(exit.peerId));

    const registeredAgain = registrar.whenRegistered(AbortSignal.timeout(15_000));
    await first.stop();
    // Same key, same port, an empty registry: the hub forgot everyone.
    const second = await net.hub({
      identity: first.identity,
      listen: `/ip4/127.0.0.1/tcp/${port}`,
    });
    assert.equal(second.address, first.address);
    const started = Date.now();
    await registeredAgain;
    assert.ok(await second.registry.get(exit.peerId), "the restarted hub knows the exit again");
    // Well before the 60 s heartbeat: woken by the lost connection and the backoff.
    assert.ok(Date.now() - started < 10_000);
    assert.ok((registrar.status()[0]?.registrations ?? 0) >= 2);
  } finally {
    await registrar?.stop();
    await net.close();
  }
});

Deno.test("ExitRegistrar retries an unreachable hub with backoff and stops promptly", async () => {
  const net = new TestNet();
  try {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const nobody = await net.node();
    const exit = await net.node();
    const events = new RecordingSink();
    const registrar = ExitRegistrar.start({
      network: exit,
      hubs: [asMultiaddr(`/ip4/127.0.0.1/tcp/${port}/p2p/${nobody.peerId}`)],
      attributes: someAttributes(),
      heartbeatIntervalMs: 60_000,
      clock,
      events,
    });
    const waiting = registrar.whenRegistered();
    await new Promise((resolve) => setTimeout(resolve, 1_800));
    const [status] = registrar.status();
    assert.equal(status?.registered, false);
    assert.ok((status?.failures ?? 0) >= 2, `failures: ${status?.failures}`);
    assert.match(status?.lastError ?? "", /cannot be reached/);
    const failures = events.ofType("hub-registration");
    assert.deepEqual(failures.map((e) => [e.registered, e.failures]).slice(0, 2), [
      [false, 1],
      [false, 2],
    ]);
    assert.match(failures[0]?.error ?? "", /cannot be reached/);
    const started = Date.now();
    await registrar.stop();
    assert.ok(Date.now() - started < 1_000, "stop() cancels the backoff wait");
    await assert.rejects(waiting, /stopped/);
  } finally {
    await net.close();
  }
});

Deno.test("directAddresses and listensThrough", () => {
  const hub = asPeerId("12D3KooWHub");
  const other = asPeerId("12D3KooWOther");
  const addresses = [
    asMultiaddr("/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWMe"),
    asMultiaddr(`/ip4/203.0.113.1/tcp/4001/p2p/${other}/p2p-circuit/p2p/12D3KooWMe`),
    asMultiaddr("/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWMe"),
  ];
  assert.deepEqual(directAddresses(addresses), ["/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWMe"]);
  assert.equal(listensThrough(addresses, hub), false);
  assert.equal(listensThrough(addresses, other), true);
  const many = Array.from({ length: 20 }, (_, i) => asMultiaddr(`/ip4/10.0.0.${i}/tcp/1`));
  assert.equal(directAddresses(many).length, 16);
});

Deno.test("ExitRegistrar tells the hub at once when the exit becomes full, and again when it is not", async () => {
  const net = new TestNet();
  let registrar: ExitRegistrar | undefined;
  try {
    const hub = await net.hub();
    const exit = await net.node();
    let full = false;
    registrar = ExitRegistrar.start({
      network: exit,
      hubs: [hub.address],
      attributes: someAttributes(),
      // Far away: only a refresh can bring the next registration within the test.
      heartbeatIntervalMs: 600_000,
      clock,
      full: () => full,
    });
    await registrar.whenRegistered(AbortSignal.timeout(5_000));
    assert.equal((await hub.registry.get(exit.peerId))?.full, undefined);
    full = true;
    const registered = registrar.whenRegistered(AbortSignal.timeout(5_000));
    registrar.refresh();
    await registered;
    assert.equal((await hub.registry.get(exit.peerId))?.full, true);
    full = false;
    const again = registrar.whenRegistered(AbortSignal.timeout(5_000));
    registrar.refresh();
    await again;
    assert.equal((await hub.registry.get(exit.peerId))?.full, undefined);
  } finally {
    await registrar?.stop();
    await net.close();
  }
});
