/**
 * docs/proxy-behaviour.md#exits-that-do-not-speak-the-protocol: an exit that does not speak the
 * connect protocol is marked unusable, forgotten, and selection moves on (here: to the next pinned
 * rank). In one process, with real libp2p nodes and sockets.
 */
import assert from "node:assert/strict";
import { loadExitConfig, loadProxyConfig } from "../core/config/mod.ts";
import { NULL_SINK } from "../core/ports/event_sink.ts";
import { FileIdentity } from "../plugins/identity-file/file_identity.ts";
import { Libp2pNetwork } from "../plugins/network-libp2p/libp2p_network.ts";
import { SystemClock } from "../plugins/clock-system/system_clock.ts";
import { InMemoryStickyStore } from "../plugins/sticky-memory/memory_sticky_store.ts";
import { StaticResolver } from "../plugins/resolver-static/static_resolver.ts";
import { ExitNode } from "../exit/exit_node.ts";
import { NullDirectory } from "../plugins/directory-hub/null_directory.ts";
import { ProxyNode } from "../proxy/proxy_node.ts";
import { InboundListeners } from "../proxy/inbound_listeners.ts";
import { SOCKS5_INBOUND } from "../plugins/socks5/mod.ts";
import { replyCodeFor } from "./_socks_client.ts";
import { startEchoServer } from "./_servers.ts";
import { freePort } from "../scripts/cluster.ts";
import { libp2pSettled } from "./_libp2p.ts";

async function node(): Promise<Libp2pNetwork> {
  const network = await Libp2pNetwork.create(await FileIdentity.generate(), {
    listen: ["/ip4/127.0.0.1/tcp/0"],
    announce: [],
  });
  await network.start();
  return network;
}

Deno.test("an exit that does not speak the connect protocol is passed over for the next one", async () => {
  const echo = await startEchoServer();
  const notAnExit = await node(); // a libp2p peer with no connect handler
  const exitNetwork = await node();
  const proxyNetwork = await node();
  const exit = await ExitNode.start({
    config: loadExitConfig(JSON.stringify({ egress: { allow_cidrs: ["127.0.0.1/32"] } }), {
      source: "e.json",
    }),
    network: exitNetwork,
    events: NULL_SINK,
    // Tests never ask the system's resolver (its DNS server is off the machine).
    resolver: new StaticResolver(),
  });
  const proxyConfig = loadProxyConfig(
    JSON.stringify({
      servers: [{
        port: freePort(),
        destination_peers: [notAnExit.addresses()[0], exitNetwork.addresses()[0]],
      }],
    }),
    { source: "p.json" },
  );
  const proxy = await ProxyNode.start({
    config: proxyConfig,
    network: proxyNetwork,
    directory: new NullDirectory(),
    clock: new SystemClock(),
    stickyStore: new InMemoryStickyStore(),
    events: NULL_SINK,
  });
  const doors = await InboundListeners.start({
    servers: proxyConfig.servers,
    protocols: [SOCKS5_INBOUND],
    router: proxy.router,
    events: NULL_SINK,
  });
  try {
    const proxyPort = doors.listeners[0]!.address.port;
    const target = { proxyPort, host: "127.0.0.1", port: echo.port, timeoutMs: 10_000 };
    const deadline = Date.now() + 10_000;
    while (proxy.actor.activeExit(proxyPort) === undefined && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(
      proxy.actor.activeExit(proxyPort)?.peerId,
      notAnExit.peerId,
      "rank 0 is chosen first",
    );
    assert.equal(await replyCodeFor(target), 1, "a session through it fails: general failure");
    let code = -1;
    for (let attempt = 0; attempt < 40 && code !== 0; attempt++) {
      code = await replyCodeFor(target);
      if (code !== 0) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.equal(code, 0, "a later session succeeds");
    assert.deepEqual(proxy.actor.activeExit(proxyPort), {
      peerId: exitNetwork.peerId,
      source: { kind: "pinned", rank: 1 },
    });
  } finally {
    await doors.stop();
    await proxy.stop();
    await exit.stop();
    for (const network of [proxyNetwork, exitNetwork, notAnExit]) await network.stop();
    await echo.close();
    await libp2pSettled();
  }
});
