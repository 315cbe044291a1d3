/**
 * Sticky exits across proxy restarts (docs/proxy-behaviour.md#sticky-pool), with real processes:
 * three exits match the server's filters, so keeping "the same exit" is not
 * luck. Each round moves the pool's most recent exit with the admin API's
 * manual selection, restarts the proxy on the same state dir, and checks
 * that the exit chosen before the restart serves the first session after it.
 * Changing a filter changes the server's fingerprint in `sticky_peers.json`,
 * drops the old pool, and a new matching exit is chosen.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { NodeProcess } from "../scripts/cluster.ts";
import {
  Cluster,
  firstWhoamiVia,
  freePort,
  type MeteredNode,
  selectExitManually,
  serverRow,
  startWhoami,
} from "./_network.ts";

/** Bound on a port getting its exit after a (re)start. */
const FIRST_EXIT_MS = 15_000;

/** The three exits: all in NL, told apart by their AS number and their egress address. */
const EXITS = [
  { source: "127.0.0.2", asn: 64_601 },
  { source: "127.0.0.3", asn: 64_602 },
  { source: "127.0.0.4", asn: 64_603 },
] as const;

/** One server's entry in `sticky_peers.json` (plugins/sticky-file). */
interface StickyServerEntry {
  readonly fingerprint: string;
  readonly peers: readonly { peer_id: string; address: string | null; updated_at: number }[];
}

async function stickyEntry(stateDir: string, port: number): Promise<StickyServerEntry> {
  const record = JSON.parse(await Deno.readTextFile(`${stateDir}/sticky_peers.json`));
  const entry = record.servers?.[String(port)] as StickyServerEntry | undefined;
  assert.ok(entry, `sticky_peers.json has no entry for port ${port}`);
  return entry;
}

Deno.test("sticky: a restarted proxy keeps its exit; a changed filter drops the pool", async (t) => {
  const cluster = new Cluster();
  const whoami = startWhoami();
  const stateDir = await Deno.makeTempDir({ prefix: "p2proxy-sticky-" });
  try {
    const hub = await cluster.hub();
    const exits = await Promise.all(
      EXITS.map((e) => cluster.exit(e.source, hub, { attributes: { country: "NL", asn: e.asn } })),
    );
    const sourceOf = (peer: string | null) => EXITS[exits.findIndex((e) => e.peerId === peer)];
    const socksPort = freePort();
    const start = (filters: Record<string, unknown>) =>
      cluster.proxy(hub, { servers: [{ port: socksPort, ...filters }] }, { dir: stateDir });
    /** The exit serving the first session, and the source the admin API gives for it. */
    const firstExit = async (proxy: MeteredNode) => {
      const source = await firstWhoamiVia(socksPort, whoami, FIRST_EXIT_MS);
      const row = await serverRow(proxy.metricsPort, socksPort);
      assert.equal(sourceOf(row.peer_id)?.source, source, "the admin API names the exit used");
      return { peer: row.peer_id!, source: row.source };
    };
    /** Makes `target` the port's most recent exit, then stops the proxy (which saves the pool). */
    const chooseAndStop = async (proxy: MeteredNode, target: NodeProcess) => {
      const chosen = await selectExitManually(proxy.metricsPort, socksPort, target.peerId);
      assert.equal(chosen.status, 200, JSON.stringify(chosen.body));
      assert.equal(
        await firstWhoamiVia(socksPort, whoami, FIRST_EXIT_MS),
        sourceOf(target.peerId)?.source,
      );
      await proxy.stop();
      assert.equal((await stickyEntry(stateDir, socksPort)).peers[0]?.peer_id, target.peerId);
    };

    let current = "";
    let fingerprint = "";
    await t.step("restarts keep the exit remembered last (three rounds, three exits)", async () => {
      const first = await start({ country: "NL" });
      const discovered = await firstExit(first);
      assert.equal(discovered.source, "discovered");
      const others = exits.filter((e) => e.peerId !== discovered.peer);
      // Round 1 moves to one other exit, round 2 to the last one, round 3 changes nothing.
      const plan = [others[0]!, others[1]!, undefined];
      let proxy = first;
      let expected = discovered.peer;
      for (const [round, next] of plan.entries()) {
        if (next) {
          await chooseAndStop(proxy, next);
          expected = next.peerId;
        } else {
          await proxy.stop();
        }
        proxy = await start({ country: "NL" });
        const after = await firstExit(proxy);
        assert.deepEqual(after, { peer: expected, source: "sticky" }, `round ${round + 1}`);
      }
      await proxy.stop();
      current = expected;
      const entry = await stickyEntry(stateDir, socksPort);
      fingerprint = entry.fingerprint;
      assert.equal(entry.peers[0]?.peer_id, current);
      assert.match(fingerprint, /\|country=NL\|.*\|asn\|/);
    });

    await t.step("a changed filter invalidates the pool and picks a matching exit", async () => {
      const wanted = EXITS.find((e) => e.source !== sourceOf(current)?.source)!;
      const proxy = await start({ country: "NL", asn: wanted.asn });
      const after = await firstExit(proxy);
      assert.deepEqual(after, {
        peer: exits[EXITS.indexOf(wanted)]!.peerId,
        source: "discovered",
      });
      await proxy.stop();
      const entry = await stickyEntry(stateDir, socksPort);
      assert.notEqual(entry.fingerprint, fingerprint, "the fingerprint changed");
      assert.match(entry.fingerprint, new RegExp(`\\|asn=${wanted.asn}\\|`));
      // The old pool (every exit remembered under the old filters) is gone.
      assert.deepEqual(entry.peers.map((p) => p.peer_id), [after.peer]);
    });
  } finally {
    await cluster.close();
    await whoami.close();
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  }
});
