import assert from "node:assert/strict";
import { NO_FILTERS } from "../../core/domain/attributes.ts";
import { asMultiaddr } from "../../core/ids.ts";
import { DirectoryError, type DirectoryErrorCode } from "../../core/ports/peer_directory.ts";
import { someAttributes } from "../../core/testing/builders.ts";
import { DIRECTORY_PROTOCOL } from "../../wire/directory_protocol.ts";
import { HubDirectory } from "./hub_directory.ts";
import { registerOnce, TestNet } from "../../hub/_testing.ts";

const ANY = { filters: NO_FILTERS, limit: 10, exclude: [] };

async function failureCode(promise: Promise<unknown>): Promise<DirectoryErrorCode> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof DirectoryError, `expected a DirectoryError, got ${error}`);
    return error.code;
  }
  assert.fail("expected the directory query to fail");
}

/** An address nothing listens on: a port that was just freed. */
async function deadAddress(net: TestNet): Promise<string> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const someone = await net.node();
  return `/ip4/127.0.0.1/tcp/${port}/p2p/${someone.peerId}`;
}

Deno.test("HubDirectory maps hub failures to DirectoryError codes", async (t) => {
  const net = new TestNet();
  try {
    const proxy = await net.node();

    await t.step("no hub configured: unavailable", async () => {
      const directory = new HubDirectory({ network: proxy, hubs: [] });
      assert.equal(await failureCode(directory.findNodes(ANY)), "unavailable");
      assert.equal(await failureCode(directory.resolvePeers([proxy.peerId])), "unavailable");
    });

    await t.step("a hub that cannot be reached: unavailable", async () => {
      const directory = new HubDirectory({
        network: proxy,
        hubs: [asMultiaddr(await deadAddress(net))],
      });
      assert.equal(await failureCode(directory.findNodes(ANY)), "unavailable");
    });

    await t.step("a peer that does not speak the directory protocol: unsupported", async () => {
      const notAHub = await net.node();
      const directory = new HubDirectory({ network: proxy, hubs: [notAHub.addresses()[0]!] });
      assert.equal(await failureCode(directory.findNodes(ANY)), "unsupported");
      assert.equal(await failureCode(directory.resolvePeers([notAHub.peerId])), "unsupported");
    });

    await t.step("a hub that never answers: timeout", async () => {
      const silent = await net.node();
      await silent.handle(DIRECTORY_PROTOCOL, () => {/* never answers */});
      const directory = new HubDirectory({
        network: proxy,
        hubs: [silent.addresses()[0]!],
        timeoutMs: 300,
      });
      const started = Date.now();
      assert.equal(await failureCode(directory.findNodes(ANY)), "timeout");
      assert.ok(Date.now() - started < 3_000);
    });

    await t.step("a hub that refuses the request: rejected", async () => {
      const hub = await net.hub();
      const directory = new HubDirectory({ network: proxy, hubs: [hub.address] });
      const bad = { ...ANY, filters: { ...NO_FILTERS, isp: "[" } };
      assert.equal(await failureCode(directory.findNodes(bad)), "rejected");
    });

    await t.step("a caller's abort rejects with its reason", async () => {
      const hub = await net.hub();
      const directory = new HubDirectory({ network: proxy, hubs: [hub.address] });
      const reason = new Error("gave up");
      await assert.rejects(
        directory.findNodes(ANY, AbortSignal.abort(reason)),
        (e) => e === reason,
      );
    });
  } finally {
    await net.close();
  }
});

Deno.test("HubDirectory tries hubs in order and dials them when not connected", async () => {
  const net = new TestNet();
  try {
    const hub = await net.hub();
    const exit = await net.node();
    await registerOnce(exit, hub, someAttributes({ country: "SE", hosting: true }));
    const proxy = await net.node();
    const notAHub = await net.node();
    const directory = new HubDirectory({
      network: proxy,
      hubs: [
        asMultiaddr("/ip4/127.0.0.1/tcp/1"), // no /p2p/: ignored
        asMultiaddr(await deadAddress(net)),
        notAHub.addresses()[0]!,
        hub.address,
      ],
      timeoutMs: 2_000,
    });
    assert.equal(proxy.isConnected(hub.network.peerId), false);
    const records = await directory.findNodes(ANY);
    assert.deepEqual(records.map((r) => r.peerId), [exit.peerId]);
    assert.equal(proxy.isConnected(hub.network.peerId), true);
    const routes = await directory.resolvePeers([exit.peerId, exit.peerId]);
    assert.deepEqual(routes.get(exit.peerId), exit.addresses());
    const described = await directory.describePeers([exit.peerId, notAHub.peerId]);
    assert.deepEqual([...described.keys()], [exit.peerId], "an unknown id is absent");
    assert.deepEqual(described.get(exit.peerId)?.routes, exit.addresses());
    assert.deepEqual(
      described.get(exit.peerId)?.attributes,
      someAttributes({ country: "SE", hosting: true }),
    );

    // When every hub fails, the most telling failure wins: the one that answered.
    const failing = new HubDirectory({
      network: proxy,
      hubs: [asMultiaddr(await deadAddress(net)), notAHub.addresses()[0]!],
      timeoutMs: 2_000,
    });
    assert.equal(await failureCode(failing.findNodes(ANY)), "unsupported");
  } finally {
    await net.close();
  }
});
