/**
 * Two hubs sharing one registry in a real `redis-server` (docs/hub-behaviour.md#shared-registry),
 * every role a real process on loopback:
 *
 * - an exit registered only at hub A carries a curl for a proxy bootstrapped only to hub B, both
 *   directly dialable and reachable only through hub A's relay
 *   (`<hub A>/p2p-circuit/p2p/<exit>`, which hub B hands out from the record);
 * - Redis restarted (empty) mid-test: running sessions go on, the registry fills again (the hubs
 *   write back what they knew, the exits re-register by heartbeat), and a new proxy discovers;
 * - hub A killed: hub B keeps answering, and exits bootstrapped to both hubs stay reachable —
 *   the relay-only one through hub B's relay.
 *
 * Exits leave from 127.0.0.2, .3, … (`bind_address`): the whoami destination names each one.
 *
 * @module
 */
import assert from "node:assert/strict";
import { NO_FILTERS } from "../core/domain/attributes.ts";
import { asMultiaddr, isRelayedAddress } from "../core/ids.ts";
import { TestNet } from "../hub/_testing.ts";
import { HubDirectory } from "../plugins/directory-hub/hub_directory.ts";
import { type RedisProcess, startRedis } from "../scripts/cluster.ts";
import {
  Cluster,
  firstWhoamiVia,
  freePort,
  type MeteredNode,
  metric,
  pollUntil,
  startWhoami,
  whoamiVia,
} from "./_network.ts";

/** A short heartbeat, so that re-registration after a Redis restart takes seconds. */
const HEARTBEAT_SECS = 2;
/** Bound on a port getting its first exit (discovery retries every second). */
const FIRST_EXIT_MS = 20_000;
/** Bound on the registry filling again (a few heartbeats, plus Redis reconnect backoff). */
const REFILL_MS = 20_000;
/** The hub refreshes its Prometheus gauges every 5 s (cli/run/hub.ts), plus a margin. */
const HUB_STATS_MS = 12_000;

const NL_DIRECT = { source: "127.0.0.2", country: "NL" };
const JP_RELAY_ONLY = { source: "127.0.0.3", country: "JP" };
const SE_DIRECT = { source: "127.0.0.4", country: "SE" };
const BR_RELAY_ONLY = { source: "127.0.0.5", country: "BR" };

/** A hub config that keeps its registry in `redis` under `prefix`. */
function redisHub(redis: RedisProcess, prefix: string): Record<string, unknown> {
  return {
    heartbeat_secs: HEARTBEAT_SECS,
    providers: { "registry-store": "@p2proxy/registry-redis" },
    plugins: { "@p2proxy/registry-redis": { url: redis.url, key_prefix: prefix } },
  };
}

/**
 * An exit with no TCP listener: its only listen addresses are circuits through `hubs`' relays
 * (readiness is watched on its metrics port instead).
 */
function relayOnlyExit(
  cluster: Cluster,
  source: string,
  hubs: readonly MeteredNode[],
  country: string,
) {
  const metricsPort = freePort();
  return cluster.exit(source, hubs[0], {
    attributes: { country },
    relay: "always",
    bootstrap: hubs.map((hub) => hub.address),
    listen_addrs: hubs.map((hub) => `${hub.address}/p2p-circuit`),
    metrics_port: metricsPort,
  }, { port: metricsPort });
}

/** What `hub` answers for a country, through a libp2p node of this test. */
async function findAt(net: TestNet, hub: MeteredNode, country: string) {
  const probe = await net.node();
  const directory = new HubDirectory({ network: probe, hubs: [asMultiaddr(hub.address)] });
  return await directory.findNodes({ filters: { ...NO_FILTERS, country }, limit: 5, exclude: [] });
}

Deno.test("cross-hub: a proxy at hub B uses exits registered only at hub A, through a Redis restart", async (t) => {
  const redis = await startRedis();
  const cluster = new Cluster();
  const whoami = startWhoami();
  const net = new TestNet();
  try {
    const prefix = `e2e:${crypto.randomUUID().slice(0, 8)}:`;
    const hubA = await cluster.hub(redisHub(redis, prefix));
    const hubB = await cluster.hub(redisHub(redis, prefix));
    const [, jp] = await Promise.all([
      cluster.exit(NL_DIRECT.source, hubA, { attributes: { country: NL_DIRECT.country } }),
      relayOnlyExit(cluster, JP_RELAY_ONLY.source, [hubA], JP_RELAY_ONLY.country),
    ]);
    const nlPort = freePort();
    const jpPort = freePort();
    await cluster.proxy(hubB, {
      servers: [{ port: nlPort, country: "NL" }, { port: jpPort, country: "JP" }],
    });

    await t.step("hub B answers with hub A's circuit for the relay-only exit", async () => {
      const [record] = await pollUntil(
        async () => {
          const found = await findAt(net, hubB, "JP");
          return found.length > 0 ? found : undefined;
        },
        FIRST_EXIT_MS,
        "hub B to know the JP exit",
      );
      assert.equal(record?.peerId, jp.peerId);
      assert.ok(record.routes.length > 0, "no route");
      for (const route of record.routes) {
        assert.ok(isRelayedAddress(route), `${route} is not a circuit`);
        assert.ok(route.includes(`/p2p/${hubA.peerId}/p2p-circuit/p2p/${jp.peerId}`), route);
      }
    });

    await t.step(
      "curl through the proxy at hub B leaves through both of hub A's exits",
      async () => {
        assert.equal(await firstWhoamiVia(nlPort, whoami, FIRST_EXIT_MS), NL_DIRECT.source);
        assert.equal(await firstWhoamiVia(jpPort, whoami, FIRST_EXIT_MS), JP_RELAY_ONLY.source);
      },
    );

    await t.step(
      "Redis restarted empty mid-test: sessions go on, the registry fills again",
      async () => {
        await redis.restart();
        // The ports keep their exits: nothing about a running route needs the registry.
        assert.equal(await whoamiVia(nlPort, whoami), NL_DIRECT.source);
        assert.equal(await whoamiVia(jpPort, whoami), JP_RELAY_ONLY.source);
        // Both hubs count the registry from Redis: the two exits are back in it.
        for (const hub of [hubA, hubB]) {
          await pollUntil(
            async () =>
              await metric(hub.metricsPort, "p2proxy_hub_registered_exits") === 2 || undefined,
            REFILL_MS + HUB_STATS_MS,
            `hub ${hub.peerId} to count both exits again`,
          );
        }
        // A proxy started now, at hub B only, discovers both through the refilled registry.
        const lateNl = freePort();
        const lateJp = freePort();
        await cluster.proxy(hubB, {
          servers: [{ port: lateNl, country: "NL" }, { port: lateJp, country: "JP" }],
        });
        assert.equal(await firstWhoamiVia(lateNl, whoami, FIRST_EXIT_MS), NL_DIRECT.source);
        assert.equal(await firstWhoamiVia(lateJp, whoami, FIRST_EXIT_MS), JP_RELAY_ONLY.source);
      },
    );
  } finally {
    await net.close();
    await cluster.close();
    await whoami.close();
    await redis.stop();
  }
});

Deno.test("cross-hub: hub A goes down, hub B keeps answering for exits bootstrapped to both", async () => {
  const redis = await startRedis();
  const cluster = new Cluster();
  const whoami = startWhoami();
  const net = new TestNet();
  try {
    const prefix = `e2e:${crypto.randomUUID().slice(0, 8)}:`;
    const hubA = await cluster.hub(redisHub(redis, prefix));
    const hubB = await cluster.hub(redisHub(redis, prefix));
    const [, br] = await Promise.all([
      cluster.exit(SE_DIRECT.source, hubA, {
        attributes: { country: SE_DIRECT.country },
        bootstrap: [hubA.address, hubB.address],
      }),
      relayOnlyExit(cluster, BR_RELAY_ONLY.source, [hubA, hubB], BR_RELAY_ONLY.country),
    ]);
    // The relay-only exit holds a reservation at both relays: the record says so.
    await pollUntil(
      async () => {
        const [record] = await findAt(net, hubB, "BR");
        const through = (hub: MeteredNode) =>
          record?.routes.some((route) => route.includes(`/p2p/${hub.peerId}/p2p-circuit`));
        return record && through(hubA) && through(hubB) ? record : undefined;
      },
      FIRST_EXIT_MS,
      "hub B to list circuits through both hubs for the BR exit",
    );

    await hubA.kill();
    const sePort = freePort();
    const brPort = freePort();
    // A proxy that knows both hubs: hub A is tried first and fails, hub B answers.
    await cluster.proxy(hubA, {
      bootstrap: [hubA.address, hubB.address],
      servers: [{ port: sePort, country: "SE" }, { port: brPort, country: "BR" }],
    });
    assert.equal(await firstWhoamiVia(sePort, whoami, FIRST_EXIT_MS), SE_DIRECT.source);
    // Hub A's circuit is dead; hub B's circuit carries the relay-only exit.
    assert.equal(await firstWhoamiVia(brPort, whoami, FIRST_EXIT_MS), BR_RELAY_ONLY.source);
    // The exits keep registering at hub B: after hub A's slot went stale (3 heartbeats) the record
    // names hub B's relay only.
    await pollUntil(
      async () => {
        const [record] = await findAt(net, hubB, "BR");
        return record?.peerId === br.peerId &&
            record.routes.every((route) => route.includes(`/p2p/${hubB.peerId}/p2p-circuit`))
          ? record
          : undefined;
      },
      REFILL_MS,
      "the BR record to drop hub A's circuit",
    );
  } finally {
    await net.close();
    await cluster.close();
    await whoami.close();
    await redis.stop();
  }
});
