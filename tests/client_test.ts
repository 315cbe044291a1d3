/**
 * The client library (client/mod.ts, docs/client.md) against the demo's network in this process:
 * a hub, an exit in NL leaving from 127.0.0.2 and one in DE leaving from 127.0.0.3. Real libp2p
 * nodes, real TCP and TLS destinations on loopback; the exits resolve names from a static map.
 */
import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createRole, type DemoRole } from "../compose/mod.ts";
import { ClientError, createClient, type P2proxyClient } from "../client/mod.ts";
import { freePortPair } from "../scripts/cluster.ts";
import { libp2pSettled } from "./_libp2p.ts";

/** Every wait here is bounded: a failing test fails in seconds. */
const WAIT_MS = 15_000;
const TESTDATA = new URL("../auth-service/testdata/", import.meta.url);

async function startDemo(): Promise<DemoRole> {
  return await createRole("demo", {
    socksPort: freePortPair(),
    whoamiPort: 0,
    metricsPort: 0,
    metricsBind: "127.0.0.1",
    providers: { resolver: "@p2proxy/resolver-static" },
  });
}

/** An HTTPS server on 127.0.0.1 with the test certificate (localhost, 127.0.0.1). */
function startTlsWhoami(): { port: number; cert: string; close(): Promise<void> } {
  const cert = Deno.readTextFileSync(new URL("localhost.crt", TESTDATA));
  const key = Deno.readTextFileSync(new URL("localhost.key", TESTDATA));
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, onListen() {} },
    async (request, info) => {
      const body = request.body ? (await request.bytes()).byteLength : 0;
      return new Response(
        `tls from ${info.remoteAddr.hostname} ${request.method} ${
          new URL(request.url).pathname
        } ${body}\n`,
      );
    },
  );
  return { port: server.addr.port, cert, close: () => server.shutdown() };
}

/** Tells when a collected sentinel's finalizer ran (module-wide: a collected registry calls none). */
const sentinels = new FinalizationRegistry<() => void>((finalized) => finalized());

/** A sentinel made in a frame of its own, so no suspended async frame can still hold it. */
function plantSentinel(onFinalized: () => void): void {
  sentinels.register({}, onFinalized);
}

/**
 * Runs full garbage collections and waits until finalizers (FinalizationRegistry callbacks) have
 * had their turn, bounded: a sentinel's own finalizer tells that a collection's callbacks ran.
 */
async function collectGarbage(): Promise<void> {
  // Node's way to reach `gc` at run time; Deno's node:v8 and node:vm implement it.
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  for (let round = 0; round < 3; round++) {
    const finalized = Promise.withResolvers<void>();
    plantSentinel(finalized.resolve);
    gc();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((_, reject) => {
      timer = setTimeout(() => reject(new Error("no finalizer ran within the wait")), WAIT_MS);
    });
    try {
      await Promise.race([finalized.promise, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

async function readText(stream: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(stream).text();
}

Deno.test("client: connect() and fetch() through the demo's exits, chosen per call", async (t) => {
  const demo = await startDemo();
  const tlsServer = startTlsWhoami();
  let client: P2proxyClient | undefined;
  try {
    const [nl, de] = demo.exits;
    assert.ok(nl && de && nl.source === "127.0.0.2" && de.source === "127.0.0.3");
    client = await createClient({ bootstrap: [demo.hub], caCerts: [tlsServer.cert] });
    const whoami = `http://127.0.0.1:${demo.whoamiPort}/`;

    await t.step("connect(): raw bytes both ways, opened names the exit", async () => {
      const socket = client!.connect(
        { hostname: "127.0.0.1", port: demo.whoamiPort },
        { country: "NL", signal: AbortSignal.timeout(WAIT_MS) },
      );
      const info = await socket.opened;
      assert.deepEqual(info.exit, { peerId: nl.peerId, country: "NL" });
      assert.equal(info.remoteAddress, `127.0.0.1:${demo.whoamiPort}`);
      const writer = socket.writable.getWriter();
      await writer.write(new TextEncoder().encode("GET / HTTP/1.0\r\nHost: x\r\n\r\n"));
      await writer.close();
      const text = await readText(socket.readable);
      assert.match(text, /^HTTP\/1\.[01] 200 /);
      assert.match(text, /you came from 127\.0\.0\.2\n$/);
      await socket.closed;
    });

    await t.step("fetch(): a standard Response, the exit chosen by country", async () => {
      const viaDe = await client!.fetch(whoami, { country: "DE" });
      assert.ok(viaDe instanceof Response);
      assert.equal(viaDe.status, 200);
      assert.equal(await viaDe.text(), "you came from 127.0.0.3\n");
      const viaNl = await client!.fetch(new Request(whoami), { country: "nl" });
      assert.equal(await viaNl.text(), "you came from 127.0.0.2\n");
    });

    await t.step("fetch(): a body left unread survives a garbage collection", async () => {
      // The consumer test once failed with "Body already consumed" on a loaded machine: a GC
      // between fetch() and text() let undici cancel the body it still owned.
      const response = await client!.fetch(whoami, {
        country: "DE",
        signal: AbortSignal.timeout(WAIT_MS),
      });
      await collectGarbage();
      assert.equal(await response.text(), "you came from 127.0.0.3\n");
    });

    await t.step(
      "fetch(): redirects are followed as fetch follows them, through the exit",
      async () => {
        const redirector = Deno.serve(
          { hostname: "127.0.0.1", port: 0, onListen() {} },
          () => Response.redirect(whoami, 302),
        );
        try {
          const response = await client!.fetch(`http://127.0.0.1:${redirector.addr.port}/go`, {
            country: "NL",
          });
          assert.equal(response.redirected, true);
          assert.equal(response.url, whoami);
          assert.equal(await response.text(), "you came from 127.0.0.2\n");
          const manual = await client!.fetch(`http://127.0.0.1:${redirector.addr.port}/go`, {
            country: "NL",
            redirect: "manual",
          });
          assert.equal(manual.status, 302);
          assert.equal(manual.headers.get("location"), whoami);
          await manual.body?.cancel();
        } finally {
          await redirector.shutdown();
        }
      },
    );

    await t.step("fetch(): https is TLS from the client, streamed bodies up", async () => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < 4; i++) controller.enqueue(new Uint8Array(256 * 1024));
          controller.close();
        },
      });
      const response = await client!.fetch(`https://localhost:${tlsServer.port}/up`, {
        method: "POST",
        body,
        country: "DE",
        signal: AbortSignal.timeout(WAIT_MS),
      });
      assert.equal(await response.text(), `tls from 127.0.0.3 POST /up ${1024 * 1024}\n`);
    });

    await t.step("fetch(): a certificate the client does not trust fails", async () => {
      const strict = await createClient({ bootstrap: [demo.hub] });
      try {
        await assert.rejects(
          strict.fetch(`https://localhost:${tlsServer.port}/`, { country: "NL" }),
          (error: Error) => /certificate/i.test(`${error.message} ${String(error.cause)}`),
        );
      } finally {
        await strict.close();
      }
    });

    await t.step("failures reject opened with a code", async () => {
      const noExit = client!.connect({ hostname: "127.0.0.1", port: demo.whoamiPort }, {
        country: "FR",
      });
      await assert.rejects(noExit.opened, (e) => e instanceof ClientError && e.code === "no_exit");
      await assert.rejects(noExit.closed, ClientError);

      const refused = client!.connect({ hostname: "127.0.0.1", port: 1 }, { country: "NL" });
      await assert.rejects(refused.opened, (e) => e instanceof ClientError && e.code === "refused");

      const bad = client!.connect({ hostname: "127.0.0.1", port: 80 }, { country: "Narnia" });
      await assert.rejects(
        bad.opened,
        (e) => e instanceof ClientError && e.code === "invalid" && /Narnia/.test(e.message),
      );
    });
  } finally {
    await client?.close();
    await tlsServer.close();
    await demo.stop();
    await libp2pSettled();
  }
});
