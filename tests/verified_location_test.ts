/**
 * Verified exit locations through the CLI (docs/hub-behaviour.md#verified-locations): a hub
 * process configured with `@p2proxy/geoip-mmdb` and a database built by the test places an exit
 * that declares NL where the database says (DE), and a proxy filtering on DE carries a curl
 * through it. Every local exit registers from 127.0.0.1, which is never located by default: the
 * test lists 127.0.0.0/8 in `locate_ranges` so that address takes the path a public one would.
 *
 * @module
 */
import assert from "node:assert/strict";
import { buildMmdb } from "../plugins/geoip-mmdb/_testing.ts";
import { Cluster, firstWhoamiVia, freePort, serverRow, startWhoami } from "./_network.ts";

const EXIT_SOURCE = "127.0.0.2";

Deno.test("a hub with a geolocation database registers an exit where its address is", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p2proxy-geoip-" });
  const cluster = new Cluster();
  const whoami = startWhoami();
  try {
    const database = `${dir}/test.mmdb`;
    await Deno.writeFile(
      database,
      buildMmdb([{ cidr: "127.0.0.1/32", data: { country: { iso_code: "DE" } } }]),
    );
    const hub = await cluster.hub({
      plugins: { "@p2proxy/geoip-mmdb": { files: [database], locate_ranges: ["127.0.0.0/8"] } },
    });
    const exit = await cluster.exit(EXIT_SOURCE, hub, { attributes: { country: "NL" } });
    const dePort = freePort();
    const nlPort = freePort();
    const proxy = await cluster.proxy(hub, {
      servers: [{ port: dePort, country: "DE" }, { port: nlPort, country: "NL" }],
    });
    assert.equal(await firstWhoamiVia(dePort, whoami, 20_000), EXIT_SOURCE);
    assert.equal((await serverRow(proxy.metricsPort, dePort)).peer_id, exit.peerId);
    // The declared country no longer matches: the NL port finds nothing.
    assert.equal((await serverRow(proxy.metricsPort, nlPort)).peer_id, null);
    assert.match(hub.logs(), /places elsewhere than it declared \(country "NL" → "DE"\)/);
  } finally {
    await cluster.close();
    await whoami.close();
    await Deno.remove(dir, { recursive: true });
  }
});
