/**
 * The QUIC data plane with real processes (docs/proxy-behaviour.md#quic): an exit and a proxy
 * started from the CLI, curl through the SOCKS port, a real HTTP destination.
 *
 * - With both sides on the defaults (`quic: auto`, `tls: auto`), sessions go over pooled TLS
 *   connections and carry a download byte-exact; the admin API shows `transport: tls`. An exit
 *   whose TLS port the proxy cannot reach is used over QUIC streams instead.
 * - With `tls: never`, sessions go over QUIC streams and carry a download byte-exact; the admin
 *   API shows `transport: quic`.
 * - An exit with `quic: never`, or whose QUIC endpoint the proxy cannot reach over UDP, is used
 *   over libp2p streams instead: logged once, counted in the metrics, shown as `libp2p`.
 * - The exit's endpoint refuses a client that pins another certificate, replays a ticket,
 *   presents another peer's ticket, or says nothing: each checked against a real exit process
 *   from a test client that asked for the offer over libp2p like a proxy would.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { PeerId } from "../core/ids.ts";
import { asMultiaddr } from "../core/ids.ts";
import { frameOf, readMessage } from "../plugins/network-quic/messages.ts";
import { FileIdentity } from "../plugins/identity-file/file_identity.ts";
import { Libp2pNetwork } from "../plugins/network-libp2p/libp2p_network.ts";
import { certificatePem, makeSelfSignedCertificate } from "../plugins/network-quic/certificate.ts";
import { QUIC_OFFER_PROTOCOL } from "../plugins/network-quic/constants.ts";
import { QUIC_CLOSE } from "../plugins/network-quic/quic_server.ts";
import { QuicDuplexStream } from "../plugins/network-quic/quic_stream.ts";
import {
  QuicHelloReplySchema,
  QuicHelloSchema,
  type QuicOffer,
  QuicOfferSchema,
} from "../proto/gen/p2proxy/quic/v1/quic_pb.ts";
import { libp2pSettled } from "./_libp2p.ts";
import { Cluster, curlVia, freePort, metric, pollUntil, scrape, serverRow } from "./_network.ts";
import { patternSha256, startHttpDestination } from "./_servers.ts";

const MIB = 1024 * 1024;
const DOWNLOAD_BYTES = 16 * MIB;
/** Bound on a proxy port getting its first working session (the exit may still be starting). */
const FIRST_SESSION_MS = 20_000;
/** Bound on one QUIC handshake or answer against the exit. */
const STEP_MS = 5_000;

/** Curl's download through `socksPort`, retried until the first one works. */
async function downloadVia(socksPort: number, url: string) {
  return await pollUntil(
    async () => {
      const result = await curlVia(socksPort, url, 30);
      return result.code === 0 ? result : undefined;
    },
    FIRST_SESSION_MS,
    `a download through port ${socksPort}`,
  );
}

Deno.test("TLS chain (the default): curl byte-exact over TLS connections; the admin API says tls", async () => {
  const cluster = new Cluster();
  const destination = startHttpDestination();
  try {
    const exit = await cluster.exit("127.0.0.1", undefined, {}, { logLevel: "info" });
    const socksPort = freePort();
    const proxy = await cluster.proxy(undefined, {
      servers: [{ port: socksPort, destination_peers: [exit.address] }],
    }, { logLevel: "info" });
    const url = `http://127.0.0.1:${destination.port}/bytes/${DOWNLOAD_BYTES}?seed=8`;
    // Several sessions one after another: later ones reuse the pooled connection.
    for (let i = 0; i < 3; i++) {
      const result = await downloadVia(socksPort, url);
      assert.equal(result.bytes, DOWNLOAD_BYTES);
      assert.equal(result.sha256, patternSha256(DOWNLOAD_BYTES, 8), "the download differs");
    }
    assert.match(proxy.logs(), /sessions go over TLS connections/, cluster.logs());
    assert.match(exit.logs(), /Serving TLS on TCP 127\.0\.0\.1:/, cluster.logs());
    const row = await serverRow(proxy.metricsPort, socksPort);
    assert.equal(row.transport, "tls");
    assert.doesNotMatch(await scrape(proxy.metricsPort), /^p2proxy_transport_fallbacks_total\{/m);
  } finally {
    await cluster.close();
    await destination.close();
  }
});

Deno.test("TLS fallback: an exit whose TLS port the proxy cannot reach is used over QUIC streams", async () => {
  const cluster = new Cluster();
  const destination = startHttpDestination();
  try {
    // The exit listens for TLS on 127.0.0.3, but the proxy reaches its libp2p node on 127.0.0.1
    // and so dials the offered TCP port there, where nothing listens: a firewall's refusal.
    const exit = await cluster.exit("127.0.0.1", undefined, {
      plugins: { "@p2proxy/network-quic": { tls_listen: "127.0.0.3:0" } },
    });
    const socksPort = freePort();
    const proxy = await cluster.proxy(undefined, {
      servers: [{ port: socksPort, destination_peers: [exit.address] }],
    }, { logLevel: "info" });
    const url = `http://127.0.0.1:${destination.port}/bytes/${MIB}?seed=6`;
    const result = await downloadVia(socksPort, url);
    assert.equal(result.sha256, patternSha256(MIB, 6));
    assert.match(proxy.logs(), /its TLS listener failed/, cluster.logs());
    assert.match(proxy.logs(), /sessions go over QUIC to/, cluster.logs());
    assert.equal((await serverRow(proxy.metricsPort, socksPort)).transport, "quic");
  } finally {
    await cluster.close();
    await destination.close();
  }
});

Deno.test("QUIC chain (tls: never): curl byte-exact over QUIC streams; the admin API says quic", async () => {
  const cluster = new Cluster();
  const destination = startHttpDestination();
  try {
    const exit = await cluster.exit("127.0.0.1", undefined, { tls: "never" }, {
      logLevel: "info",
    });
    const socksPort = freePort();
    const proxy = await cluster.proxy(undefined, {
      servers: [{ port: socksPort, destination_peers: [exit.address] }],
      tls: "never",
    }, { logLevel: "info" });
    const url = `http://127.0.0.1:${destination.port}/bytes/${DOWNLOAD_BYTES}?seed=7`;
    const result = await downloadVia(socksPort, url);
    assert.equal(result.bytes, DOWNLOAD_BYTES);
    assert.equal(result.sha256, patternSha256(DOWNLOAD_BYTES, 7), "the download differs");
    assert.match(proxy.logs(), /sessions go over QUIC/, cluster.logs());
    assert.match(exit.logs(), /Serving QUIC on UDP 127\.0\.0\.1:/, cluster.logs());
    const row = await serverRow(proxy.metricsPort, socksPort);
    assert.equal(row.transport, "quic");
    assert.doesNotMatch(await scrape(proxy.metricsPort), /^p2proxy_transport_fallbacks_total\{/m);
  } finally {
    await cluster.close();
    await destination.close();
  }
});

Deno.test("QUIC fallback: an exit with quic: never is used over libp2p streams, logged once", async () => {
  const cluster = new Cluster();
  const destination = startHttpDestination();
  try {
    const exit = await cluster.exit("127.0.0.1", undefined, { quic: "never" });
    const socksPort = freePort();
    const proxy = await cluster.proxy(undefined, {
      servers: [{ port: socksPort, destination_peers: [exit.address] }],
    }, { logLevel: "info" });
    const url = `http://127.0.0.1:${destination.port}/bytes/${MIB}?seed=3`;
    for (let i = 0; i < 3; i++) {
      const result = await downloadVia(socksPort, url);
      assert.equal(result.sha256, patternSha256(MIB, 3));
    }
    const lines = proxy.logs().split("\n").filter((line) => /not QUIC/.test(line));
    assert.equal(lines.length, 1, `one fallback line, got:\n${proxy.logs()}`);
    assert.match(lines[0]!, /not-offered/);
    assert.equal((await serverRow(proxy.metricsPort, socksPort)).transport, "libp2p");
    assert.equal(
      await metric(proxy.metricsPort, 'p2proxy_transport_fallbacks_total{reason="not-offered"}'),
      1,
    );
  } finally {
    await cluster.close();
    await destination.close();
  }
});

Deno.test("QUIC fallback: an exit whose UDP endpoint the proxy cannot reach is used over libp2p", async () => {
  const cluster = new Cluster();
  const destination = startHttpDestination();
  try {
    // The exit serves QUIC on 127.0.0.3, but the proxy reaches its libp2p node on 127.0.0.1 and
    // so tries UDP there, where nothing answers: what a firewall dropping UDP looks like.
    const exit = await cluster.exit("127.0.0.1", undefined, {
      tls: "never",
      plugins: { "@p2proxy/network-quic": { listen: "127.0.0.3:0" } },
    });
    const socksPort = freePort();
    const proxy = await cluster.proxy(undefined, {
      servers: [{ port: socksPort, destination_peers: [exit.address] }],
    }, { logLevel: "info" });
    const url = `http://127.0.0.1:${destination.port}/bytes/${MIB}?seed=5`;
    const result = await downloadVia(socksPort, url);
    assert.equal(result.sha256, patternSha256(MIB, 5));
    assert.match(proxy.logs(), /not QUIC \(unreachable/, cluster.logs());
    assert.equal((await serverRow(proxy.metricsPort, socksPort)).transport, "libp2p");
  } finally {
    await cluster.close();
    await destination.close();
  }
});

/** A libp2p node of the test's own that asks a real exit for QUIC offers, as a proxy would. */
async function offerClient(exitAddress: string) {
  const node = await Libp2pNetwork.create(await FileIdentity.generate(), {
    listen: [],
    announce: [],
  });
  await node.start();
  await node.dialAny([asMultiaddr(exitAddress)]);
  return {
    peerId: node.peerId,
    async offer(): Promise<QuicOffer> {
      // Asked once: the exit serves the offer before its libp2p node listens (which is what the
      // cluster waits for), so a proxy that reaches it in its first moment gets QUIC.
      const stream = await openOffer();
      await stream.closeWrite();
      const { message } = await readMessage(stream, QuicOfferSchema, AbortSignal.timeout(STEP_MS));
      return message;
    },
    stop: () => node.stop(),
  };

  function openOffer() {
    return node.open(
      /** The exit's peer id is the last part of its address. */
      exitAddress.split("/").at(-1)! as PeerId,
      { protocol: QUIC_OFFER_PROTOCOL, timeoutMs: STEP_MS, maxConcurrent: 4 },
    );
  }
}

/** Connects to the exit's endpoint pinning `certificate`, and says hello with `ticket`. */
async function hello(
  port: number,
  certificate: Uint8Array,
  offer: QuicOffer,
  peerId: string,
): Promise<{ admitted: boolean; message: string; conn: Deno.QuicConn }> {
  const conn = await Deno.connectQuic<false>({
    hostname: "127.0.0.1",
    port,
    serverName: offer.serverName,
    caCerts: [certificatePem(certificate)],
    alpnProtocols: [offer.alpn],
  });
  const stream = new QuicDuplexStream(await conn.createBidirectionalStream());
  await stream.write(frameOf(QuicHelloSchema, { ticket: offer.ticket, peerId }));
  try {
    const { message } = await readMessage(
      stream,
      QuicHelloReplySchema,
      AbortSignal.timeout(STEP_MS),
    );
    return { admitted: message.admitted, message: message.message, conn };
  } catch (error) {
    // The exit may close the connection before its refusal arrives.
    return { admitted: false, message: String(error), conn };
  }
}

function closeQuietly(conn: Deno.QuicConn): void {
  try {
    conn.close();
    conn.endpoint.close();
  } catch {
    // Already closed.
  }
}

Deno.test("QUIC trust: a real exit refuses a wrong certificate, a replayed ticket, another peer's ticket, a silent connection", async (t) => {
  const cluster = new Cluster();
  const exit = await cluster.exit("127.0.0.1", undefined);
  const client = await offerClient(exit.address);
  try {
    await t.step("the pinned certificate admits; the same ticket again is refused", async () => {
      const offer = await client.offer();
      const first = await hello(offer.port, offer.certificate, offer, client.peerId);
      assert.equal(first.admitted, true, first.message);
      closeQuietly(first.conn);
      const replay = await hello(offer.port, offer.certificate, offer, client.peerId);
      assert.equal(replay.admitted, false, "a replayed ticket was admitted");
      const info = await replay.conn.closed.catch((error) => ({
        closeCode: -1,
        reason: `${error}`,
      }));
      assert.equal(info.closeCode, QUIC_CLOSE.refused, info.reason);
      assert.match(info.reason, /replayed/);
      closeQuietly(replay.conn);
    });

    await t.step("a ticket presented for another peer is refused", async () => {
      const offer = await client.offer();
      const other = (await FileIdentity.generate()).peerId;
      const result = await hello(offer.port, offer.certificate, offer, other);
      assert.equal(result.admitted, false, "another peer's ticket was admitted");
      const info = await result.conn.closed.catch((error) => ({
        closeCode: -1,
        reason: `${error}`,
      }));
      assert.equal(info.closeCode, QUIC_CLOSE.refused, info.reason);
      assert.match(info.reason, /wrong-peer/);
      closeQuietly(result.conn);
    });

    await t.step("a client pinning another certificate never completes the handshake", async () => {
      const offer = await client.offer();
      const impostor = await makeSelfSignedCertificate(offer.serverName);
      await assert.rejects(
        Deno.connectQuic<false>({
          hostname: "127.0.0.1",
          port: offer.port,
          serverName: offer.serverName,
          caCerts: [impostor.certPem],
          alpnProtocols: [offer.alpn],
        }).then(closeQuietly),
        /certificate|UnknownIssuer|BadSignature/i,
      );
    });

    await t.step(
      "a connection that presents no ticket is closed within a few hundred ms",
      async () => {
        const offer = await client.offer();
        const conn = await Deno.connectQuic<false>({
          hostname: "127.0.0.1",
          port: offer.port,
          serverName: offer.serverName,
          caCerts: [certificatePem(offer.certificate)],
          alpnProtocols: [offer.alpn],
        });
        let timer: ReturnType<typeof setTimeout> | undefined;
        const info = await Promise.race([
          conn.closed.catch((error) => ({ closeCode: -1, reason: `${error}` })),
          new Promise<undefined>((resolve) => {
            timer = setTimeout(() => resolve(undefined), STEP_MS);
          }),
        ]);
        clearTimeout(timer);
        assert.ok(info, "the exit kept a silent connection open");
        assert.equal(info.closeCode, QUIC_CLOSE.silent, info.reason);
        closeQuietly(conn);
      },
    );
  } finally {
    await client.stop();
    await cluster.close();
    await libp2pSettled();
  }
});
