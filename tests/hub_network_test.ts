/**
 * The hub network as separate processes (docs/hub-behaviour.md): a hub, exits
 * registered with it, and proxies that discover through it.
 *
 * - filters: each server gets an exit matching its filters, never another;
 * - an exit reachable only through the hub's relay carries 100 MiB (hash-checked);
 * - manual selection through the admin API (`POST /servers/{port}/exit`);
 * - 20 SOCKS clients arriving at a port without an exit share ONE discovery;
 * - the hub restarts (same state dir and port): exits register again and
 *   proxies recover without a restart.
 *
 * Exits leave from 127.0.0.2, .3, … (`bind_address`): the whoami destination
 * answers with the source address it sees, so each request names its exit.
 *
 * @module
 */
import assert from "node:assert/strict";
import { NO_FILTERS } from "../core/domain/attributes.ts";
import { asMultiaddr, isRelayedAddress } from "../core/ids.ts";
import { FileIdentity } from "../plugins/identity-file/file_identity.ts";
import { TestNet } from "../hub/_testing.ts";
import { HubDirectory } from "../plugins/directory-hub/hub_directory.ts";
import {
  Cluster,
  countingSha256,
  curlVia,
  firstWhoamiVia,
  freePort,
  metric,
  pollUntil,
  selectExitManually,
  serverRow,
  servers,
  sleep,
  startWhoami,
  whoamiVia,
} from "./_network.ts";

const MIB = 1024 * 1024;
/** The size for the relayed download: far past the relay's 128 KiB default limit. */
const RELAY_DOWNLOAD_BYTES = 100 * MIB;
/** Bound on that download (about 13 s on a loaded 2-core machine; a hang fails here). */
const RELAY_DOWNLOAD_TIMEOUT_SECS = 90;
/** Requests per server in the filter test: every one must leave through a matching exit. */
const REQUESTS_PER_SERVER = 4;
/** Bound on a port getting its first exit (discovery retries every second). */
const FIRST_EXIT_MS = 15_000;
/** The concurrent clients of the just-in-time test (the number). */
const JIT_CLIENTS = 20;
/** The hub refreshes its Prometheus gauges this often (cli/run/hub.ts), plus a margin. */
const HUB_STATS_REFRESH_MS = 5_500;
/** Bound on an exit registering again after the hub restarts: its retry backoff is 1, 2, 4, 8 s. */
const REREGISTER_MS = 25_000;

/** The four exits of the filter test: what they register and where they leave from. */
const NL = { source: "127.0.0.2", country: "NL", asn: 1136, isp: "KPN" };
const DE = { source: "127.0.0.3", country: "DE", asn: 3320, isp: "Deutsche Telekom" };
const US = { source: "127.0.0.4", country: "US", asn: 7018, isp: "AT&T" };
/** Reachable only through the hub's relay. */
const JP = { source: "127.0.0.5", country: "JP", asn: 2516, isp: "KDDI" };
/** The exit of the just-in-time and hub-restart test. */
const SE_SOURCE = "127.0.0.6";

Deno.test("hub network: filters choose matching exits, a relay-only exit carries 100 MiB, manual selection", async (t) => {
  const cluster = new Cluster();
  const whoami = startWhoami();
  const net = new TestNet();
  try {
    const hub = await cluster.hub();
    // The relay-only exit has no TCP listener at all: its one listen address is a circuit through
    // the hub (`listen_addrs` must not be empty), so startExit's readiness probe watches its
    // metrics port instead of a libp2p port.
    const jpMetricsPort = freePort();
    const [nl, de, us, jp] = await Promise.all([
      cluster.exit(NL.source, hub, {
        attributes: {
          country: NL.country,
          asn: NL.asn,
          isp: NL.isp,
          bandwidth: "1Gbps",
          hosting: true,
        },
      }),
      cluster.exit(DE.source, hub, {
        attributes: { country: DE.country, asn: DE.asn, isp: DE.isp, bandwidth: "100Mbps" },
      }),
      cluster.exit(US.source, hub, {
        attributes: {
          country: US.country,
          asn: US.asn,
          isp: US.isp,
          bandwidth: "10Gbps",
          mobile: true,
        },
      }),
      cluster.exit(JP.source, hub, {
        attributes: {
          country: JP.country,
          asn: JP.asn,
          isp: JP.isp,
          bandwidth: "1Gbps",
          hosting: true,
        },
        relay: "always",
        listen_addrs: [`${hub.address}/p2p-circuit`],
        metrics_port: jpMetricsPort,
      }, { port: jpMetricsPort }),
    ]);
    const sourceOf = new Map([
      [nl.peerId, NL.source],
      [de.peerId, DE.source],
      [us.peerId, US.source],
      [jp.peerId, JP.source],
    ]);

    /** Each server's filters and the exits (by source) that match them. */
    const cases = [
      { name: "country NL", filters: { country: "Netherlands" }, allowed: [NL.source] },
      { name: "asn 3320", filters: { asn: "AS3320" }, allowed: [DE.source] },
      { name: "isp /telekom/", filters: { isp: "telekom" }, allowed: [DE.source] },
      { name: "min 5 Gbps", filters: { min_bandwidth: "5Gbps" }, allowed: [US.source] },
      { name: "hosting deny", filters: { hosting: "deny" }, allowed: [DE.source, US.source] },
      {
        name: "hosting require, mobile deny, min 500 Mbps",
        filters: { hosting: "require", mobile: "deny", min_bandwidth: "500Mbps" },
        allowed: [NL.source, JP.source],
      },
      { name: "country JP (relay only)", filters: { country: "JP" }, allowed: [JP.source] },
      { name: "country FR (no exit)", filters: { country: "FR" }, allowed: [] },
    ].map((c) => ({ ...c, port: freePort() }));
    const byName = (name: string) => cases.find((c) => c.name === name)!;
    const proxy = await cluster.proxy(hub, {
      servers: cases.map((c) => ({ port: c.port, ...c.filters })),
    });

    await t.step("each server leaves only through exits matching its filters", async () => {
      const started = performance.now();
      await Promise.all(
        cases.filter((c) => c.allowed.length > 0).map(async (c) => {
          const first = await firstWhoamiVia(c.port, whoami, FIRST_EXIT_MS);
          assert.ok(
            c.allowed.includes(first),
            `${c.name}: left through ${first}, not ${c.allowed}`,
          );
          for (let i = 1; i < REQUESTS_PER_SERVER; i++) {
            const source = await whoamiVia(c.port, whoami);
            assert.ok(c.allowed.includes(source), `${c.name}: left through ${source}`);
          }
          const row = await serverRow(proxy.metricsPort, c.port);
          assert.equal(row.source, "discovered");
          assert.ok(c.allowed.includes(sourceOf.get(row.peer_id ?? "") ?? "?"), c.name);
        }),
      );
      // The port no exit matches never got one (it is still looking).
      const none = await serverRow(proxy.metricsPort, byName("country FR (no exit)").port);
      assert.deepEqual([none.peer_id, none.source], [null, null]);
      // The destination saw no other source than the four exits'.
      assert.ok(whoami.seen.every((s) => [...sourceOf.values()].includes(s)), `${whoami.seen}`);
      console.log(`  filters: ${whoami.seen.length} requests in ${ms(started)}`);
    });

    await t.step(
      "the relay-only exit is found with circuit routes only and carries 100 MiB",
      async () => {
        // What the hub tells a proxy about the exit: no direct route at all.
        const probe = await net.node();
        const directory = new HubDirectory({ network: probe, hubs: [asMultiaddr(hub.address)] });
        const [record] = await directory.findNodes({
          filters: { ...NO_FILTERS, country: "JP" },
          limit: 5,
          exclude: [],
        });
        assert.equal(record?.peerId, jp.peerId);
        assert.ok(
          record.routes.length > 0 && record.routes.every(isRelayedAddress),
          `${record.routes}`,
        );
        // The gauge lags the hub by up to one stats refresh.
        await pollUntil(
          async () =>
            await metric(hub.metricsPort, "p2proxy_hub_relay_raised_limits") >= 1 || undefined,
          HUB_STATS_REFRESH_MS * 2,
          "the hub reporting the exit's raised relay limits (p2proxy_hub_relay_raised_limits)",
        );

        const started = performance.now();
        const result = await curlVia(
          byName("country JP (relay only)").port,
          `${whoami.url}bytes/${RELAY_DOWNLOAD_BYTES}`,
          RELAY_DOWNLOAD_TIMEOUT_SECS,
        );
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.bytes, RELAY_DOWNLOAD_BYTES);
        assert.equal(result.sha256, countingSha256(RELAY_DOWNLOAD_BYTES));
        assert.equal(whoami.seen.at(-1), JP.source);
        console.log(`  relay: 100 MiB in ${ms(started)}`);
      },
    );

    await t.step("manual selection: the chosen exit serves the next session", async () => {
      const port = byName("hosting deny").port;
      const before = await serverRow(proxy.metricsPort, port);
      const other = before.peer_id === de.peerId ? us : de;
      const chosen = await selectExitManually(proxy.metricsPort, port, other.peerId);
      assert.equal(chosen.status, 200, JSON.stringify(chosen.body));
      const { transport: _transport, ...row } = await serverRow(proxy.metricsPort, port);
      assert.deepEqual(row, { port, peer_id: other.peerId, source: "manual" });
      assert.equal(await whoamiVia(port, whoami), sourceOf.get(other.peerId));

      // A peer the hub does not know cannot be checked against the filters: 409. Overridden, it
      // cannot be reached: 502. Either way the port keeps its exit.
      const offline = (await FileIdentity.generate()).peerId;
      const unverifiable = await selectExitManually(proxy.metricsPort, port, offline);
      assert.equal(unverifiable.status, 409);
      assert.equal(unverifiable.body.rule, "filters-unverifiable");
      const refused = await selectExitManually(proxy.metricsPort, port, offline, {
        override: true,
      });
      assert.equal(refused.status, 502);
      assert.equal((await serverRow(proxy.metricsPort, port)).peer_id, other.peerId);
      assert.equal((await selectExitManually(proxy.metricsPort, 1, other.peerId)).status, 404);
      assert.equal((await selectExitManually(proxy.metricsPort, port, "not-a-peer")).status, 400);
      assert.equal(await whoamiVia(port, whoami), sourceOf.get(other.peerId));
    });
  } finally {
    await net.close();
    await cluster.close();
    await whoami.close();
  }
});

Deno.test("hub network: 20 waiting clients share one discovery; proxies and exits survive a hub restart", async (t) => {
  const cluster = new Cluster();
  const whoami = startWhoami();
  try {
    let hub = await cluster.hub();
    const socksPort = freePort();
    const proxyStarted = performance.now();
    const proxy = await cluster.proxy(hub, { servers: [{ port: socksPort, country: "SE" }] });

    await t.step(
      "20 concurrent CONNECTs on a port with no exit trigger one shared discovery",
      async () => {
        const clients = Array.from(
          { length: JIT_CLIENTS },
          () => curlVia(socksPort, whoami.url, 40),
        );
        // Every client is waiting for the port's exit before any exit exists.
        await pollUntil(
          async () =>
            await metric(proxy.metricsPort, "p2proxy_socks_jit_discovery_total") >= JIT_CLIENTS ||
            undefined,
          10_000,
          "20 clients waiting (p2proxy_socks_jit_discovery_total)",
        );
        assert.equal((await serverRow(proxy.metricsPort, socksPort)).peer_id, null);
        await cluster.exit(SE_SOURCE, hub, { attributes: { country: "SE" } });
        const results = await Promise.all(clients);
        const windowMs = performance.now() - proxyStarted;
        for (const result of results) {
          assert.equal(result.code, 0, result.stderr);
          assert.equal(result.text, SE_SOURCE);
        }
        assert.equal(
          await metric(proxy.metricsPort, "p2proxy_socks_jit_discovery_total"),
          JIT_CLIENTS,
        );
        // The hub counts FindNodes requests; its gauges refresh every 5 s. One connect asks once
        // per second (DISCOVERY_RETRY_INTERVAL_MS) from the proxy's start until it finds the exit,
        // so FindNodes ≤ seconds elapsed + 2. One discovery per client would ask at least 20 times
        // once the clients arrived, on top of what the port's own connect asked before.
        await sleep(HUB_STATS_REFRESH_MS);
        const finds = await metric(hub.metricsPort, "p2proxy_hub_find_nodes_total");
        const bound = Math.ceil(windowMs / 1000) + 2;
        console.log(
          `  JIT: ${finds} FindNodes over ${ms(proxyStarted, windowMs)} (bound ${bound})`,
        );
        assert.ok(finds >= 1, "the proxy asked the hub");
        assert.ok(finds <= bound && finds < JIT_CLIENTS, `${finds} FindNodes (bound ${bound})`);
      },
    );

    await t.step("after a hub restart exits register again and proxies recover", async () => {
      const hubPort = Number(/\/tcp\/(\d+)\//.exec(hub.address)?.[1]);
      const { dir, peerId } = hub;
      await hub.stop();

      // A proxy started while the hub is down has nothing to discover through yet.
      const latePort = freePort();
      const late = await cluster.proxy(hub, { servers: [{ port: latePort, country: "SE" }] });
      assert.equal((await serverRow(late.metricsPort, latePort)).peer_id, null);

      const restarted = performance.now();
      hub = await cluster.hub({}, { dir, port: hubPort });
      assert.equal(hub.peerId, peerId, "same identity");
      await pollUntil(
        async () =>
          await metric(hub.metricsPort, "p2proxy_hub_registered_exits") === 1 || undefined,
        REREGISTER_MS,
        "the exit registered with the restarted hub",
      );
      const registeredMs = performance.now() - restarted;
      assert.equal(await firstWhoamiVia(latePort, whoami, FIRST_EXIT_MS), SE_SOURCE);
      const discoveredMs = performance.now() - restarted;
      // The first proxy never restarted: its exit still serves it.
      assert.equal(await whoamiVia(socksPort, whoami), SE_SOURCE);
      await pollUntil(
        async () => await metric(hub.metricsPort, "p2proxy_hub_find_nodes_total") >= 1 || undefined,
        HUB_STATS_REFRESH_MS * 2,
        "a FindNodes at the restarted hub",
      );
      assert.deepEqual((await servers(late.metricsPort)).map((r) => r.source), ["discovered"]);
      console.log(
        `  hub restart: exit registered ${registeredMs.toFixed(0)} ms and the late proxy ` +
          `served ${discoveredMs.toFixed(0)} ms after the restart`,
      );
    });
  } finally {
    await cluster.close();
    await whoami.close();
  }
});

function ms(started: number, elapsed = performance.now() - started): string {
  return `${(elapsed / 1000).toFixed(1)} s`;
}
