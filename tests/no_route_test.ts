/**
 * A proxy server that pins no exit, on a proxy without a hub, can never
 * route. The config loader refuses it; a library caller that builds one by
 * hand gets a proxy whose clients hear reply 01 at once, with a log line that
 * says what is missing — not a discovery wait that cannot succeed. In one
 * process, with a real libp2p node and a real SOCKS client.
 */
import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { loadProxyConfig } from "../core/config/mod.ts";
import { NULL_SINK } from "../core/ports/event_sink.ts";
import { FileIdentity } from "../plugins/identity-file/file_identity.ts";
import { Libp2pNetwork } from "../plugins/network-libp2p/libp2p_network.ts";
import { SystemClock } from "../plugins/clock-system/system_clock.ts";
import { InMemoryStickyStore } from "../plugins/sticky-memory/memory_sticky_store.ts";
import { NullDirectory } from "../plugins/directory-hub/null_directory.ts";
import { ProxyNode } from "../proxy/proxy_node.ts";
import { InboundListeners } from "../proxy/inbound_listeners.ts";
import { SOCKS5_INBOUND } from "../plugins/socks5/mod.ts";
import { replyCodeFor } from "./_socks_client.ts";
import { freePort } from "../scripts/cluster.ts";
import { libp2pSettled } from "./_libp2p.ts";

/** A peer to pin so that the loader accepts the file; the test then takes the pin away. */
const SOME_PEER = "12D3KooWS6M2cP13vSHoPXVYbmYvhFgZowNrwyy7VkvbEUgXiXGZ";

/**
 * Far longer than the client waits: a port that waited for discovery would
 * leave the client without a reply, and the test would fail rather than pass slowly.
 */
const JIT_WAIT_MS = 120_000;
const CLIENT_TIMEOUT_MS = 10_000;

function renderedMessage(record: LogRecord): string {
  return record.message.map(String).join("");
}

Deno.test("a server with no pinned exit and no hub answers 01 at once, saying what is missing", async () => {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (record) => records.push(record) },
    loggers: [
      { category: ["p2proxy"], lowestLevel: "info", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
  });
  const loaded = loadProxyConfig(
    JSON.stringify({ servers: [{ port: freePort(), destination_peers: [SOME_PEER] }] }),
    { source: "p.json" },
  );
  // What a library caller might build: the loader would refuse this server.
  const servers = loaded.servers.map((server) => ({ ...server, pinned: [] }));
  const network = await Libp2pNetwork.create(await FileIdentity.generate(), {
    listen: ["/ip4/127.0.0.1/tcp/0"],
    announce: [],
  });
  await network.start();
  const proxy = await ProxyNode.start({
    config: { servers },
    network,
    directory: new NullDirectory(),
    clock: new SystemClock(),
    stickyStore: new InMemoryStickyStore(),
    events: NULL_SINK,
    timings: { jitWaitMs: JIT_WAIT_MS },
  });
  const doors = await InboundListeners.start({
    servers,
    protocols: [SOCKS5_INBOUND],
    router: proxy.router,
    events: NULL_SINK,
  });
  try {
    const proxyPort = doors.listeners[0]!.address.port;
    const code = await replyCodeFor({
      proxyPort,
      host: "127.0.0.1",
      port: freePort(),
      timeoutMs: CLIENT_TIMEOUT_MS,
    });
    assert.equal(code, 1, "general failure");
    assert.equal(proxy.actor.activeExit(proxyPort), undefined);

    const lines = records.map((record) => `${record.level} ${renderedMessage(record)}`);
    const atStart = lines.filter((line) => line.startsWith("error ") && line.includes("never"));
    assert.equal(atStart.length, 1, lines.join("\n"));
    assert.match(atStart[0]!, new RegExp(`Port ${proxyPort} can never reach an exit`));
    assert.match(atStart[0]!, /`bootstrap`/);
    assert.match(atStart[0]!, /`destination_peers`/);
    const refused = lines.find((line) => line.includes("CONNECT") && line.includes("failed"));
    assert.ok(refused, lines.join("\n"));
    assert.match(refused, /can never reach an exit/);
    assert.doesNotMatch(lines.join("\n"), /retrying|hub is reachable/, "no discovery was tried");
  } finally {
    await doors.stop();
    await proxy.stop();
    await network.stop();
    await libp2pSettled();
    await reset();
  }
});
