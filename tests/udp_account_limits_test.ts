/**
 * UDP ASSOCIATE under an account's limits, end to end (docs/limits.md#udp): a real proxy and exit,
 * a UDP echo server, a SOCKS5 client's associations. A second association over the port's
 * connection limit is refused (reply 02) while the first is open; the datagrams of the first count
 * towards the quota, and once it is used up the next association is refused too.
 *
 * @module
 */
import assert from "node:assert/strict";
import { AUTH_METHOD, SOCKS_REPLY } from "../core/codec/socks5.ts";
import { encodeUdpDatagram, parseUdpDatagram } from "../core/codec/socks5_udp.ts";
import { Cluster, freePort, pollUntil } from "./_network.ts";
import { connectLocal, ConnReader, greet, request } from "./_socks_client.ts";

/** Bound on the proxy finding its exit, and on counts reaching the quota (a sync a second). */
const READY_MS = 30_000;
const WAIT_MS = 10_000;
const PAYLOAD = "x".repeat(1_000);

/** A UDP echo server on loopback. */
function startUdpEcho() {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const loop = (async () => {
    while (true) {
      try {
        const [data, from] = await socket.receive();
        await socket.send(data, from).catch(() => {});
      } catch {
        return;
      }
    }
  })();
  return {
    port: (socket.addr as Deno.NetAddr).port,
    close: async () => {
      socket.close();
      await loop;
    },
  };
}

/** UDP ASSOCIATE on `port` without auth: the reply code, and the association when it succeeded. */
async function associate(port: number) {
  const reader = new ConnReader(await connectLocal(port));
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const close = () => {
    reader.close();
    socket.close();
  };
  try {
    assert.equal(await greet(reader, [AUTH_METHOD.noAuth]), AUTH_METHOD.noAuth);
    const reply = await request(reader, { command: "udp-associate", host: "0.0.0.0", port: 0 });
    if (reply.code !== SOCKS_REPLY.succeeded) {
      close();
      return { code: reply.code };
    }
    const relay: Deno.NetAddr = { transport: "udp", hostname: reply.host, port: reply.port };
    /** Sends a datagram to the echo and waits for it to come back. */
    const roundTrip = async (echoPort: number) => {
      const data = new TextEncoder().encode(PAYLOAD);
      await socket.send(encodeUdpDatagram({ host: "127.0.0.1", port: echoPort, data }), relay);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const received = socket.receive();
      const answer = await Promise.race([
        received,
        new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), WAIT_MS)),
      ]);
      clearTimeout(timer);
      assert.ok(answer, `no echo within ${WAIT_MS} ms`);
      assert.equal(parseUdpDatagram(answer[0]).data.byteLength, data.byteLength);
    };
    return { code: reply.code, roundTrip, close };
  } catch (error) {
    close();
    throw error;
  }
}

Deno.test("limits: UDP associations count against an account's connections and quota", async () => {
  const cluster = new Cluster();
  const echo = startUdpEcho();
  try {
    const exit = await cluster.exit("127.0.0.2", undefined, {
      egress: { allow_cidrs: ["127.0.0.0/8"] },
    });
    const port = freePort();
    await cluster.proxy(undefined, {
      servers: [{
        port,
        destination_peers: [exit.address],
        limits: { connections: 1, quota: { bytes: "8KB", period: "day" } },
      }],
    });
    const first = await pollUntil(
      async () => {
        const association = await associate(port);
        return association.code === 0 ? association : undefined;
      },
      READY_MS,
      "a first association",
    );
    const second = await associate(port);
    assert.equal(second.code, SOCKS_REPLY.notAllowed, "over the connection limit: 02");

    for (let i = 0; i < 5; i++) await first.roundTrip!(echo.port); // > 10 KB both ways
    first.close!();
    const refused = await pollUntil(
      async () => {
        const next = await associate(port);
        next.close?.();
        return next.code === SOCKS_REPLY.notAllowed ? next : undefined;
      },
      WAIT_MS,
      "an association refused over the quota",
    );
    assert.equal(refused.code, SOCKS_REPLY.notAllowed);
    assert.match(cluster.logs(), /has used its quota of 8KB per day/);
  } finally {
    await cluster.close();
    await echo.close();
  }
});
