/**
 * An exit's `limits.udp` keys take effect end to end (docs/config-reference.md): with real
 * processes (hub, exit, proxy) and a UDP echo, an exit allowing 2 datagrams a second and 2 s of
 * silence passes only 2 of 6 datagrams sent at once (counting the rest as dropped) and ends the
 * association after 2 s of silence, not the default 2 minutes — the proxy then closes the
 * client's control connection.
 *
 * @module
 */
import assert from "node:assert/strict";
import { AUTH_METHOD, SOCKS_REPLY } from "../core/codec/socks5.ts";
import { encodeUdpDatagram } from "../core/codec/socks5_udp.ts";
import { Cluster, freePort, metric, pollUntil, scrape } from "./_network.ts";
import { connectLocal, ConnReader, greet, request } from "./_socks_client.ts";

/** Bound on the exits registering, the association ending, the metrics settling. */
const WAIT_MS = 20_000;

/** The sample `name{labels} value` in Prometheus text (0 when absent). */
function sample(text: string, key: string): number {
  for (const line of text.split("\n")) {
    const [name, value] = line.trim().split(/\s+/);
    if (name === key && value !== undefined) return Number(value);
  }
  return 0;
}

Deno.test("an exit's limits.udp bound its associations: datagrams a second and idle time", async () => {
  const cluster = new Cluster();
  const echo = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const received: string[] = [];
  const echoing = (async () => {
    while (true) {
      try {
        const [data, from] = await echo.receive();
        received.push(new TextDecoder().decode(data));
        await echo.send(data, from);
      } catch {
        return;
      }
    }
  })();
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  let reader: ConnReader | undefined;
  try {
    const hub = await cluster.hub();
    const exitMetricsPort = freePort();
    await cluster.exit("127.0.0.2", hub, {
      metrics_port: exitMetricsPort,
      limits: { udp: { max_datagrams_per_sec: 2, idle_timeout_secs: 2 } },
    });
    await pollUntil(
      async () => await metric(hub.metricsPort, "p2proxy_hub_registered_exits") >= 1 || undefined,
      WAIT_MS,
      "the exit registered with the hub",
    );
    const port = freePort();
    await cluster.proxy(hub, { servers: [{ port }] });

    reader = new ConnReader(await connectLocal(port));
    assert.equal(await greet(reader, [AUTH_METHOD.noAuth]), AUTH_METHOD.noAuth);
    const reply = await request(reader, { command: "udp-associate", host: "0.0.0.0", port: 0 });
    assert.equal(reply.code, SOCKS_REPLY.succeeded);
    const relay: Deno.NetAddr = { transport: "udp", hostname: reply.host, port: reply.port };
    const echoPort = (echo.addr as Deno.NetAddr).port;
    for (let i = 0; i < 6; i++) {
      const data = new TextEncoder().encode(`d${i}`);
      await client.send(encodeUdpDatagram({ host: "127.0.0.1", port: echoPort, data }), relay);
    }

    // Two seconds of silence end it at the exit; the proxy then closes the control connection.
    const closed = await reader.readChunk(1, WAIT_MS, "the control connection to close");
    assert.equal(closed, null, "the association ended and the proxy closed the control connection");
    const dropped = await pollUntil(
      async () =>
        sample(await scrape(exitMetricsPort), 'p2proxy_udp_dropped_total{side="exit"}') ||
        undefined,
      WAIT_MS,
      "the exit to count the association's drops",
    );
    assert.equal(received.length, 2, `the echo got ${JSON.stringify(received)}`);
    assert.equal(dropped, 4, "the four datagrams over 2 a second were dropped at the exit");
  } finally {
    reader?.close();
    client.close();
    echo.close();
    await echoing;
    await cluster.close();
  }
});
