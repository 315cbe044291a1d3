/**
 * Username sessions end to end (docs/proxy-behaviour.md#sessions), with real curl through a real
 * hub, two exits and a proxy whose sticky store is the default file: a session whose exit is
 * killed moves to the other exit (logged, and counted in `p2proxy_session_moves_total`); after
 * the killed exit is back — where the session id itself would lead — and the proxy restarts, the
 * session still leaves from the exit it moved to, because the proxy saved it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { spreadIndex } from "../core/domain/connect.ts";
import { Cluster, curlVia, freePort, metric, pollUntil, startWhoami } from "./_network.ts";

const NL1 = "127.0.0.2";
const NL2 = "127.0.0.3";
/** Bound on the port (or a session) getting an exit. */
const EXIT_MS = 20_000;

/**
 * A session id of account `demo` that the spread over `peers` (sorted, as the connector sorts)
 * sends to `peer`: the spread key is `<account>/<id>`.
 */
function sessionHashingTo(peer: string, peers: readonly string[], prefix: string): string {
  const sorted = [...peers].sort();
  for (let i = 0;; i++) {
    const id = `${prefix}${i}`;
    if (sorted[spreadIndex(`demo/${id}`, sorted.length)] === peer) return id;
  }
}

Deno.test("sessions: a session moves off a dead exit, and keeps its exit across a proxy restart", async (t) => {
  const cluster = new Cluster();
  const whoami = startWhoami();
  try {
    const hub = await cluster.hub();
    const [a, b] = await Promise.all([
      cluster.exit(NL1, hub, { attributes: { country: "NL" } }),
      cluster.exit(NL2, hub, { attributes: { country: "NL" } }),
    ]);
    const sourceOf = new Map([[a.peerId, NL1], [b.peerId, NL2]]);
    const port = freePort();
    const config = {
      log_level: "info",
      servers: [{ port, country: "NL", users: [{ username: "demo", password: "demo" }] }],
    };
    let proxy = await cluster.proxy(hub, config);
    const via = (session: string) =>
      curlVia(port, whoami.url, 10, ["-U", `demo-country-nl-session-${session}:demo`]);
    const sourceFor = async (session: string) => {
      const result = await via(session);
      assert.equal(result.code, 0, `curl for session ${session} failed: ${result.stderr}`);
      return result.text.trim();
    };
    const session = sessionHashingTo(a.peerId, [a.peerId, b.peerId], "restart");
    const aPort = Number(/\/tcp\/(\d+)\//.exec(a.address)?.[1]);

    await t.step("the session's first exit is the one its id leads to", async () => {
      const first = await pollUntil(
        () => via(session).then((r) => r.code === 0 ? r.text.trim() : undefined),
        EXIT_MS,
        "the session's first exit",
      ).catch((error) => {
        throw new Error(`${error}\n${cluster.logs()}`);
      });
      assert.equal(first, sourceOf.get(a.peerId));
      assert.equal(await sourceFor(session), NL1, "kept on the next connection");
    });

    await t.step(
      "its exit killed, the session moves to the other, logged and counted",
      async () => {
        await a.kill();
        const moved = await pollUntil(
          () => via(session).then((r) => r.code === 0 ? r.text.trim() : undefined),
          EXIT_MS,
          "the session to move",
        );
        assert.equal(moved, NL2);
        assert.equal(await sourceFor(session), NL2, "it stays on the exit it moved to");
        assert.equal(await metric(proxy.metricsPort, "p2proxy_session_moves_total"), 1);
        assert.match(proxy.logs(), new RegExp(`Session demo/${session} moved from exit`));
      },
    );

    await t.step(
      "after the old exit is back and the proxy restarts, the session stays",
      async () => {
        await cluster.exit(NL1, hub, { attributes: { country: "NL" } }, {
          dir: a.dir,
          port: aPort,
        });
        // The exit is back in the hub's answers: a fresh session its id leads to lands on it.
        await pollUntil(
          async () => {
            const fresh = sessionHashingTo(a.peerId, [a.peerId, b.peerId], `back${Date.now()}x`);
            return await sourceFor(fresh) === NL1 ? true : undefined;
          },
          EXIT_MS,
          "the restarted exit to serve sessions again",
        );
        await proxy.stop();
        proxy = await cluster.proxy(hub, config, { dir: proxy.dir });
        const after = await pollUntil(
          () => via(session).then((r) => r.code === 0 ? r.text.trim() : undefined),
          EXIT_MS,
          "the session after the restart",
        ).catch((error) => {
          throw new Error(`${error}\n${cluster.logs()}`);
        });
        assert.equal(after, NL2, "the saved exit, not the one the id leads to");
        assert.equal(await metric(proxy.metricsPort, "p2proxy_session_moves_total"), 0);
        const saved = await Deno.readTextFile(`${proxy.dir}/sticky_peers.sessions.json`);
        assert.match(saved, new RegExp(`session=demo/${session}"`));
        assert.match(saved, new RegExp(b.peerId));
      },
    );
  } finally {
    await cluster.close();
    await whoami.close();
  }
});
