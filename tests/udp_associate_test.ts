/**
 * SOCKS5 UDP ASSOCIATE end to end (docs/proxy-behaviour.md#udp-associate) with real processes:
 * a hub, two exits leaving from 127.0.0.2 (NL) and 127.0.0.3 (DE), a proxy with a port per
 * country, a real UDP echo server on loopback that answers with the source address it saw, and
 * a SOCKS5 client written here (a TCP control connection and a Deno datagram socket), and PySocks.
 *
 * Proves: datagrams round-trip through each exit (the echo names which one carried them), over
 * QUIC streams to one and libp2p streams to the other, names
 * resolve at the exit, a destination the exit's egress policy denies gets nothing through, FRAG
 * ≠ 0 is dropped, only the associated client is served, the association ends with its TCP
 * connection at both ends, and the metrics count it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { AUTH_METHOD, SOCKS_REPLY } from "../core/codec/socks5.ts";
import { encodeUdpDatagram, parseUdpDatagram } from "../core/codec/socks5_udp.ts";
import { Cluster, freePort, metric, pollUntil, scrape, serverRow } from "./_network.ts";
import { connectLocal, ConnReader, greet, request } from "./_socks_client.ts";

/** Bound on a wait for an answer: far above a loopback round trip through three processes. */
const WAIT_MS = 10_000;
/** How long a datagram that should not pass gets to (wrongly) arrive. */
const SILENCE_MS = 500;
/** Both exits registered with the hub. */
const REGISTERED_MS = 30_000;

const NL = { source: "127.0.0.2", country: "NL" };
const DE = { source: "127.0.0.3", country: "DE" };
/** A name only the exits' static map knows (the echo server's address). */
const DEST_NAME = "udp-echo.test";

const text = new TextEncoder();
const untext = new TextDecoder();

/** A UDP echo server: answers `<source ip>:<source port> <payload>` and counts what it got. */
class UdpEcho {
  readonly socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  readonly received: string[] = [];
  readonly #loop: Promise<void>;

  constructor() {
    this.#loop = this.#serve();
  }

  get port(): number {
    return (this.socket.addr as Deno.NetAddr).port;
  }

  async #serve(): Promise<void> {
    while (true) {
      let data: Uint8Array;
      let from: Deno.NetAddr;
      try {
        const [bytes, addr] = await this.socket.receive();
        data = bytes;
        from = addr as Deno.NetAddr;
      } catch {
        return;
      }
      const payload = untext.decode(data);
      this.received.push(payload);
      await this.socket.send(text.encode(`${from.hostname}:${from.port} ${payload}`), from)
        .catch(() => {});
    }
  }

  async close(): Promise<void> {
    this.socket.close();
    await this.#loop;
  }
}

/** One client association: the TCP control connection and the client's own UDP socket. */
class Association {
  readonly reader: ConnReader;
  readonly socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  readonly relay: Deno.NetAddr;

  private constructor(reader: ConnReader, relay: Deno.NetAddr) {
    this.reader = reader;
    this.relay = relay;
  }

  /** Greets `proxyPort`, asks UDP ASSOCIATE naming no address (0.0.0.0:0), reads the relay. */
  static async open(proxyPort: number): Promise<Association> {
    const reader = new ConnReader(await connectLocal(proxyPort));
    try {
      assert.equal(await greet(reader, [AUTH_METHOD.noAuth]), AUTH_METHOD.noAuth);
      const reply = await request(reader, { command: "udp-associate", host: "0.0.0.0", port: 0 });
      assert.equal(reply.code, SOCKS_REPLY.succeeded, "UDP ASSOCIATE answered success");
      assert.equal(reply.host, "127.0.0.1", "the relay socket is on the listener's address");
      assert.ok(reply.port > 0);
      return new Association(reader, {
        transport: "udp",
        hostname: reply.host,
        port: reply.port,
      });
    } catch (error) {
      reader.close();
      throw error;
    }
  }

  /** Sends `payload` to `host:port` through the relay (FRAG `frag`). */
  async send(host: string, port: number, payload: string, frag = 0): Promise<void> {
    await this.socket.send(
      encodeUdpDatagram({ host, port, data: text.encode(payload), frag }),
      this.relay,
    );
  }

  /** The next datagram from the relay, parsed; undefined when none comes within `ms`. */
  async receive(ms = WAIT_MS): Promise<
    { host: string; port: number; payload: string; from: Deno.NetAddr } | undefined
  > {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    });
    // One receive at a time: one that timed out is the next call's.
    this.#next ??= this.socket.receive().then(([data, from]) => ({ data, from }));
    const got = await Promise.race([this.#next, timeout]);
    clearTimeout(timer);
    if (!got) return undefined;
    this.#next = undefined;
    const datagram = parseUdpDatagram(got.data);
    assert.equal(datagram.frag, 0);
    return {
      host: datagram.host,
      port: datagram.port,
      payload: untext.decode(datagram.data),
      from: got.from as Deno.NetAddr,
    };
  }

  #next: Promise<{ data: Uint8Array; from: Deno.Addr }> | undefined;

  /** Sends `payload` to the echo and returns its answer (the source the echo saw, the text). */
  async roundTrip(host: string, port: number, payload: string): Promise<string> {
    await this.send(host, port, payload);
    const answer = await this.receive();
    assert.ok(answer, `no answer to "${payload}" within ${WAIT_MS} ms`);
    assert.equal(answer.from.port, this.relay.port, "the answer comes from the relay socket");
    return answer.payload;
  }

  async close(): Promise<void> {
    this.reader.close();
    this.socket.close();
    await this.#next?.catch(() => {});
  }
}

/**
 * Debian's python3 with its `python3-socks` package (PySocks): a SOCKS5 UDP client nobody here
 * wrote. `.ci/run` installs it.
 */
const PYTHON = "/usr/bin/python3";

/** PySocks' UDP ASSOCIATE: one datagram to the echo through `proxyPort`, its answer's text. */
async function pysocksRoundTrip(proxyPort: number, echoPort: number, payload: string) {
  const script = [
    "import socket, socks, sys",
    "s = socks.socksocket(socket.AF_INET, socket.SOCK_DGRAM)",
    "s.set_proxy(socks.SOCKS5, '127.0.0.1', int(sys.argv[1]))",
    "s.settimeout(10)",
    "s.sendto(sys.argv[3].encode(), ('127.0.0.1', int(sys.argv[2])))",
    "data, source = s.recvfrom(4096)",
    "assert source == ('127.0.0.1', int(sys.argv[2])), source",
    "sys.stdout.write(data.decode())",
    "s.close()",
  ].join("\n");
  let output;
  try {
    output = await new Deno.Command(PYTHON, {
      args: ["-c", script, String(proxyPort), String(echoPort), payload],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(WAIT_MS * 2),
    }).output();
  } catch (error) {
    throw new Error(
      `${PYTHON} did not run (${error}); this test needs PySocks: apt-get install python3-socks.`,
    );
  }
  const stderr = untext.decode(output.stderr);
  assert.ok(
    output.success,
    /No module named 'socks'/.test(stderr)
      ? "PySocks is missing: apt-get install python3-socks (.ci/run installs it)."
      : `the PySocks client failed: ${stderr}`,
  );
  return untext.decode(output.stdout);
}

/** The sample `name{labels} value` in Prometheus text (0 when absent). */
function labelled(textBody: string, key: string): number {
  for (const line of textBody.split("\n")) {
    const [name, value] = line.trim().split(/\s+/);
    if (name === key && value !== undefined) return Number(value);
  }
  return 0;
}

Deno.test("UDP ASSOCIATE: datagrams through two exits, names at the exit, policy, FRAG, client only, ends with TCP", async (t) => {
  const cluster = new Cluster();
  const echo = new UdpEcho();
  const deniedEcho = new UdpEcho();
  const associations: Association[] = [];
  const open = async (port: number) => {
    const association = await Association.open(port);
    associations.push(association);
    return association;
  };
  try {
    const hub = await cluster.hub();
    const exitConfig = (country: string) => ({
      attributes: { country },
      egress: { allow_cidrs: ["127.0.0.0/8"], deny_ports: [25, deniedEcho.port] },
      metrics_port: 0,
      plugins: { "@p2proxy/resolver-static": { hosts: { [DEST_NAME]: ["127.0.0.1"] } } },
    });
    const exitMetricsPort = freePort();
    const [nlExit] = await Promise.all([
      cluster.exit(NL.source, hub, { ...exitConfig(NL.country), metrics_port: exitMetricsPort }),
      // The DE exit serves no QUIC: its associations ride libp2p streams, the NL exit's TLS ones.
      cluster.exit(DE.source, hub, { ...exitConfig(DE.country), quic: "never" }),
    ]);
    assert.ok(nlExit);
    await pollUntil(
      async () => await metric(hub.metricsPort, "p2proxy_hub_registered_exits") >= 2 || undefined,
      REGISTERED_MS,
      "both exits registered with the hub",
    );
    const nlPort = freePort();
    const dePort = freePort();
    const proxy = await cluster.proxy(hub, {
      servers: [{ port: nlPort, country: NL.country }, { port: dePort, country: DE.country }],
      log_level: "info",
    });

    await t.step("a datagram round-trips through the NL exit, leaving from 127.0.0.2", async () => {
      const association = await open(nlPort);
      const answer = await association.roundTrip("127.0.0.1", echo.port, "hello nl");
      assert.match(answer, /^127\.0\.0\.2:\d+ hello nl$/, answer);
      // A second datagram leaves from the same exit socket (one socket per association).
      const again = await association.roundTrip("127.0.0.1", echo.port, "again");
      assert.equal(again.split(" ")[0], answer.split(" ")[0]);
    });

    await t.step("the DE port's association leaves from the DE exit, 127.0.0.3", async () => {
      const association = await open(dePort);
      const answer = await association.roundTrip("127.0.0.1", echo.port, "hello de");
      assert.match(answer, /^127\.0\.0\.3:\d+ hello de$/, answer);
    });

    await t.step(
      "the same stream opener carried them: QUIC to NL, libp2p streams to DE",
      async () => {
        assert.equal((await serverRow(proxy.metricsPort, nlPort)).transport, "tls");
        assert.equal((await serverRow(proxy.metricsPort, dePort)).transport, "libp2p");
      },
    );

    await t.step("a third-party client (PySocks) round-trips through the DE exit", async () => {
      const answer = await pysocksRoundTrip(dePort, echo.port, "from pysocks");
      assert.match(answer, /^127\.0\.0\.3:\d+ from pysocks$/, answer);
    });

    await t.step("a name is resolved at the exit; the reply names the echo's address", async () => {
      const association = await open(nlPort);
      await association.send(DEST_NAME, echo.port, "by name");
      const answer = await association.receive();
      assert.ok(answer, "no answer to a datagram sent by name");
      assert.equal(answer.host, "127.0.0.1");
      assert.equal(answer.port, echo.port);
      assert.match(answer.payload, /^127\.0\.0\.2:\d+ by name$/);
    });

    await t.step("a destination the exit's egress policy denies gets nothing", async () => {
      const association = await open(nlPort);
      await association.send("127.0.0.1", deniedEcho.port, "denied");
      assert.equal(await association.receive(SILENCE_MS), undefined, "an answer came back");
      assert.deepEqual(deniedEcho.received, [], "the denied destination got a datagram");
      // The exit reported it: counted there, logged at the proxy.
      await pollUntil(
        async () =>
          labelled(
              await scrape(exitMetricsPort),
              'p2proxy_exit_denied_total{reason="denied-port"}',
            ) >=
            1 || undefined,
        WAIT_MS,
        "the exit's denial counted",
      );
      await pollUntil(
        () =>
          /UDP datagrams to 127\.0\.0\.1:\d+ denied at the exit/.test(proxy.logs()) || undefined,
        WAIT_MS,
        "the proxy's log line for the denial",
      );
      // The association is still usable for allowed destinations.
      const answer = await association.roundTrip("127.0.0.1", echo.port, "still alive");
      assert.match(answer, /still alive$/);
    });

    await t.step("FRAG ≠ 0 is dropped; the next whole datagram passes", async () => {
      const association = await open(nlPort);
      const before = echo.received.length;
      await association.send("127.0.0.1", echo.port, "fragment", 1);
      assert.equal(await association.receive(SILENCE_MS), undefined);
      assert.equal(echo.received.length, before, "the echo received a fragment");
      const answer = await association.roundTrip("127.0.0.1", echo.port, "whole");
      assert.match(answer, /whole$/);
      assert.ok(!echo.received.includes("fragment"));
    });

    await t.step("only the associated client is served", async () => {
      const association = await open(nlPort);
      // The client's first datagram fixes its address...
      await association.roundTrip("127.0.0.1", echo.port, "mine");
      // ...so another socket on the same host gets nothing through the relay.
      const stranger = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
      try {
        await stranger.send(
          encodeUdpDatagram({ host: "127.0.0.1", port: echo.port, data: text.encode("stranger") }),
          association.relay,
        );
        assert.equal(await association.receive(SILENCE_MS), undefined);
        assert.ok(!echo.received.includes("stranger"), "a stranger's datagram was relayed");
      } finally {
        stranger.close();
      }
    });

    await t.step(
      "the association ends with its TCP connection, at the proxy and the exit",
      async () => {
        // The steps above closed nothing yet: several associations are open at the NL exit.
        const exitActive = 'p2proxy_udp_associations_active{side="exit"}';
        const proxyActive = 'p2proxy_udp_associations_active{side="proxy"}';
        assert.ok(labelled(await scrape(exitMetricsPort), exitActive) >= 1);
        const association = await open(nlPort);
        await association.roundTrip("127.0.0.1", echo.port, "before close");
        for (const a of associations.splice(0)) await a.close();
        await pollUntil(
          async () => labelled(await scrape(proxy.metricsPort), proxyActive) === 0 || undefined,
          WAIT_MS,
          "no association open at the proxy",
        );
        await pollUntil(
          async () => labelled(await scrape(exitMetricsPort), exitActive) === 0 || undefined,
          WAIT_MS,
          "no association open at the NL exit",
        );
        // The relay socket is gone: a datagram sent to it now reaches nobody.
        const late = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
        try {
          const before = echo.received.length;
          await late.send(
            encodeUdpDatagram({ host: "127.0.0.1", port: echo.port, data: text.encode("late") }),
            association.relay,
          ).catch(() => {});
          await new Promise((resolve) => setTimeout(resolve, SILENCE_MS));
          assert.equal(
            echo.received.length,
            before,
            "a datagram passed after the association ended",
          );
        } finally {
          late.close();
        }
        // Counted: associations started and datagrams both ways, at both ends.
        const proxyMetrics = await scrape(proxy.metricsPort);
        assert.ok(labelled(proxyMetrics, 'p2proxy_udp_associations_total{side="proxy"}') >= 8);
        assert.ok(
          labelled(proxyMetrics, 'p2proxy_udp_datagrams_total{side="proxy",direction="up"}') >= 8,
        );
        assert.ok(
          labelled(proxyMetrics, 'p2proxy_udp_datagrams_total{side="proxy",direction="down"}') >= 8,
        );
        assert.ok(labelled(proxyMetrics, 'p2proxy_udp_dropped_total{side="proxy"}') >= 2);
        const exitMetrics = await scrape(exitMetricsPort);
        assert.ok(labelled(exitMetrics, 'p2proxy_udp_bytes_total{side="exit",direction="up"}') > 0);
      },
    );
  } catch (error) {
    console.error(cluster.logs());
    throw error;
  } finally {
    for (const association of associations) await association.close();
    await cluster.close();
    await echo.close();
    await deniedEcho.close();
  }
});
