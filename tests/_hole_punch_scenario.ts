/**
 * Run by tests/hole_punch_test.ts INSIDE a network namespace it made, whose loopback carries
 * 3fff::1 and 3fff::2 (the IPv6 documentation prefix of RFC 9637: never routed, and — unlike
 * 2001:db8::/32 and the IPv4 test nets — not on js-libp2p's private-address list; DCUtR never
 * dials a private address). A hub on 3fff::1; an exit reachable only through the hub's relay; a
 * proxy pinned to the exit's circuit, announcing 3fff::2 (an announced address counts as
 * verified, as one AutoNAT confirmed would). Both run with `hole_punching: true`. The proxy's
 * first connection to the exit is relayed; DCUtR on the exit (the side that accepted the relayed
 * connection) dials the proxy directly and closes the relayed connection.
 *
 * Prints one JSON line: the routes of the proxy's connections to the exit, in order, and curl's
 * exit codes before and after the upgrade.
 *
 * @module
 */
import { Cluster, curlVia, freePort, pollUntil, startWhoami } from "./_network.ts";

/** Bound on the upgrade: DCUtR starts once identify ran on the relayed connection. */
const UPGRADE_MS = 20_000;

/** How long no new proxy→exit connection must open before the connections count as settled. */
const SETTLE_MS = 1_500;

const HOLE_PUNCHING = { "@p2proxy/network-libp2p": { hole_punching: true } };

const cluster = new Cluster();
const whoami = startWhoami();
const result: Record<string, unknown> = {};
try {
  const hubPort = freePort();
  const hub = await cluster.hub({
    listen_addrs: [`/ip4/127.0.0.1/tcp/${hubPort}`, `/ip6/3fff::1/tcp/${hubPort}`],
    announce_addrs: [`/ip6/3fff::1/tcp/${hubPort}`],
  }, { port: hubPort });
  const hubAddress = `/ip6/3fff::1/tcp/${hubPort}/p2p/${hub.peerId}`;

  const exitMetricsPort = freePort();
  const exit = await cluster.exit("127.0.0.1", undefined, {
    bootstrap: [hubAddress],
    relay: "always",
    listen_addrs: [`${hubAddress}/p2p-circuit`],
    attributes: { country: "NL" },
    metrics_port: exitMetricsPort,
    plugins: HOLE_PUNCHING,
  }, { port: exitMetricsPort });

  const socksPort = freePort();
  const proxyAddress = `/ip6/3fff::2/tcp/${freePort()}`;
  const proxy = await cluster.proxy(undefined, {
    servers: [{
      port: socksPort,
      destination_peers: [`${hubAddress}/p2p-circuit/p2p/${exit.peerId}`],
    }],
    plugins: {
      "@p2proxy/network-libp2p": {
        ...HOLE_PUNCHING["@p2proxy/network-libp2p"],
        listen: [proxyAddress],
        announce: [proxyAddress],
      },
    },
  }, { logLevel: "info" });

  const first = await pollUntil(
    async () => {
      const got = await curlVia(socksPort, whoami.url, 5);
      return got.code === 0 ? got : undefined;
    },
    UPGRADE_MS,
    "a first request through the exit",
  );
  result.firstRequest = first.code;
  const routes = () =>
    proxy.logs().split("\n")
      .filter((line) => line.includes(`Connected to ${exit.peerId}`))
      .map((line) => /\((direct|relayed)\)/.exec(line)?.[1] ?? line);
  // The upgrade closes the relayed connection before the proxy sees the direct one, so the pinned
  // port counts the exit lost for a moment and dials its circuit address again, and DCUtR upgrades
  // that connection too (docs/proxy-behaviour.md#hole-punching): wait until no connection has
  // opened for SETTLE_MS and the last one is direct.
  let seen = "";
  let unchangedSince = performance.now();
  await pollUntil(
    () => {
      const now = routes();
      if (now.join() !== seen) {
        seen = now.join();
        unchangedSince = performance.now();
        return undefined;
      }
      const settled = performance.now() - unchangedSince >= SETTLE_MS;
      return (settled && now.at(-1) === "direct") || undefined;
    },
    UPGRADE_MS,
    "a direct connection between the proxy and the exit, and no new connection after it",
  ).catch(() => {});
  result.routes = routes();
  // The relayed connection is closed once the direct one is up: this request goes direct.
  result.requestAfterUpgrade = (await curlVia(socksPort, whoami.url, 10)).code;
} catch (error) {
  result.error = String(error);
  result.logs = cluster.logs().slice(-4000);
} finally {
  await cluster.close();
  await whoami.close();
}
console.log(JSON.stringify(result));
