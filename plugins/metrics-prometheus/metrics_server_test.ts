import assert from "node:assert/strict";
import { ListenError } from "../../runtime/listen_error.ts";
import { MetricsError } from "./metrics_error.ts";
import { METRICS_PATH, MetricsServer, type MetricsSource, metricsUrl } from "./metrics_server.ts";

const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** A source whose text changes on every scrape, so a test sees a fresh render each time. */
function countingSource(): MetricsSource & { scrapes: number } {
  const source = {
    scrapes: 0,
    contentType: CONTENT_TYPE,
    metrics: () => Promise.resolve(`test_scrapes ${++source.scrapes}\n`),
  };
  return source;
}

async function withServer(
  fn: (server: MetricsServer, base: string) => Promise<void>,
  source: MetricsSource = countingSource(),
): Promise<void> {
  const server = new MetricsServer(source, { port: 0 });
  const address = await server.start();
  try {
    await fn(server, metricsUrl(address, ""));
  } finally {
    await server.stop();
  }
}

Deno.test("GET /metrics renders the source with its content type", async () => {
  const source = countingSource();
  await withServer(async (_server, base) => {
    const first = await fetch(`${base}${METRICS_PATH}`);
    assert.equal(first.status, 200);
    assert.equal(first.headers.get("content-type"), CONTENT_TYPE);
    assert.equal(await first.text(), "test_scrapes 1\n");
    assert.equal(await (await fetch(`${base}/metrics?x=1`)).text(), "test_scrapes 2\n");
    const head = await fetch(`${base}/metrics`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
  }, source);
});

Deno.test("other paths get 404 and other methods on /metrics get 405", async () => {
  await withServer(async (_server, base) => {
    for (const path of ["/", "/metrics/", "/metricsx", "/servers/1/exit"]) {
      const response = await fetch(`${base}${path}`);
      assert.equal(response.status, 404, path);
      await response.body?.cancel();
    }
    const post = await fetch(`${base}/metrics`, { method: "POST" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    await post.body?.cancel();
  });
});

Deno.test("the route hook serves added routes with their match", async () => {
  await withServer(async (server, base) => {
    const seen: string[] = [];
    server.route("post", /^\/servers\/(\d+)\/exit$/, async (request, match) => {
      seen.push(`${match[1]}:${await request.text()}`);
      return Response.json({ port: Number(match[1]) });
    });
    server.route("GET", /^\/metrics$/, () => new Response("shadow"));

    const response = await fetch(`${base}/servers/1080/exit`, { method: "POST", body: "peer" });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { port: 1080 });
    assert.deepEqual(seen, ["1080:peer"]);

    const wrongMethod = await fetch(`${base}/servers/1080/exit`);
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get("allow"), "POST");
    await wrongMethod.body?.cancel();

    const metrics = await fetch(`${base}/metrics`);
    assert.match(await metrics.text(), /^test_scrapes/, "/metrics cannot be shadowed");
  });
});

Deno.test("a route that throws answers 500 and the server keeps serving", async () => {
  await withServer(async (server, base) => {
    server.route("GET", /^\/boom$/, () => {
      throw new Error("route failed");
    });
    const response = await fetch(`${base}/boom`);
    assert.equal(response.status, 500);
    await response.body?.cancel();
    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    await metrics.body?.cancel();
  });
});

Deno.test("a non-loopback bind is refused unless remote access is allowed", async (t) => {
  const source = countingSource();
  for (const bind of ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "2001:db8::1"]) {
    await t.step(`refuses ${bind}`, () => {
      assert.throws(
        () => new MetricsServer(source, { bind }),
        (error) =>
          error instanceof MetricsError && error.code === "remote-bind" &&
          error.message.includes(JSON.stringify(bind)) && error.message.includes("allow_remote"),
      );
    });
  }
  await t.step("accepts loopback addresses", () => {
    for (const bind of ["127.0.0.1", "127.0.0.2", "::1", "[::1]"]) {
      assert.doesNotThrow(() => new MetricsServer(source, { bind }), bind);
    }
  });
  await t.step("accepts a remote address when allowed (not started)", () => {
    assert.doesNotThrow(() => new MetricsServer(source, { bind: "0.0.0.0", allowRemote: true }));
  });
  await t.step("refuses a host name and a bad port", () => {
    assert.throws(
      () => new MetricsServer(source, { bind: "localhost" }),
      (error) => error instanceof MetricsError && error.code === "bad-bind",
    );
    for (const port of [-1, 65_536, 1.5, Number.NaN]) {
      assert.throws(
        () => new MetricsServer(source, { port }),
        (error) => error instanceof MetricsError && error.code === "bad-port",
      );
    }
  });
});

Deno.test("port 0 binds a free port and exposes it; start is idempotent, stop is safe twice", async () => {
  const server = new MetricsServer(countingSource(), { port: 0 });
  assert.equal(server.address, undefined);
  await server.stop();
  const address = await server.start();
  try {
    assert.equal(address.hostname, "127.0.0.1");
    assert.ok(address.port > 0);
    assert.deepEqual(server.address, address);
    assert.deepEqual(await server.start(), address);
  } finally {
    await server.stop();
    await server.stop();
  }
  assert.equal(server.address, undefined);
  await assert.rejects(fetch(metricsUrl(address)), "nothing listens after stop");
});

Deno.test("a port in use fails with address-in-use naming the address and the key", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const server = new MetricsServer(countingSource(), { port: taken.addr.port });
    await assert.rejects(
      server.start(),
      (error) =>
        error instanceof ListenError && error.code === "address-in-use" &&
        error.message.includes(`127.0.0.1:${taken.addr.port}`) &&
        error.message.includes("metrics_port"),
    );
    assert.equal(server.address, undefined);
  } finally {
    taken.close();
  }
});

Deno.test("metricsUrl brackets IPv6 hosts", () => {
  assert.equal(metricsUrl({ hostname: "127.0.0.1", port: 9091 }), "http://127.0.0.1:9091/metrics");
  assert.equal(metricsUrl({ hostname: "::1", port: 9091 }), "http://[::1]:9091/metrics");
  assert.equal(metricsUrl({ hostname: "::1", port: 1 }, "/x"), "http://[::1]:1/x");
});
