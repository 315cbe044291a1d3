import assert from "node:assert/strict";
import { ListenError } from "../../wire/listen_error.ts";
import { MetricsError } from "./metrics_error.ts";
import {
  METRICS_PATH,
  metricsRequestRefusal,
  MetricsServer,
  type MetricsSource,
  metricsUrl,
} from "./metrics_server.ts";
import { Composition, planComposition } from "../../core/plugin/host.ts";
import type { PluginDefinition } from "../../core/plugin/contract.ts";
import { renderPermissionFlags } from "../../core/plugin/permissions.ts";
import { eventSinkCompliance } from "../../core/testing/compliance/event_sink.ts";
import { aPeerId } from "../../core/testing/builders.ts";
import { declaredNames, parseSamples, valueOf } from "./_testing.ts";
import {
  createMetricsEndpoint,
  metricsPermissions,
  type MetricsPluginInstance,
  plugin,
  PrometheusSink,
} from "./mod.ts";

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

/** Bound on one raw exchange: a server that waits for a body it should not read fails here. */
const RAW_EXCHANGE_TIMEOUT_MS = 5_000;

/**
 * Sends `head` (request line and headers, as written) to 127.0.0.1:`port`
 * over a plain socket — fetch would replace a Host header — and returns the
 * status code. No body follows, whatever Content-Length says: a server that
 * read the body would never answer.
 */
async function rawStatus(port: number, head: string): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), RAW_EXCHANGE_TIMEOUT_MS);
  try {
    await conn.write(new TextEncoder().encode(`${head.trim()}\r\n\r\n`));
    const buffer = new Uint8Array(256);
    const read = await conn.read(buffer);
    const line = new TextDecoder().decode(buffer.subarray(0, read ?? 0)).split("\r\n")[0] ?? "";
    const status = /^HTTP\/1\.1 (\d{3})/.exec(line)?.[1];
    if (status === undefined) throw new Error(`No HTTP status line in ${JSON.stringify(line)}.`);
    return Number(status);
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}

Deno.test("a foreign Host or any Origin is refused with 403 on every path, before the body is read", async () => {
  await withServer(async (server, base) => {
    const port = Number(new URL(base).port);
    const calls: string[] = [];
    server.route("POST", /^\/servers\/(\d+)\/exit$/, (_request, match, client) => {
      calls.push(`${match[1]} from ${client.remoteAddress}`);
      return new Response("moved");
    });
    const post = (headers: string) =>
      rawStatus(
        port,
        `POST /servers/1080/exit HTTP/1.1\r\n${headers}\r\nContent-Type: application/json\r\n` +
          "Content-Length: 100",
      );
    assert.equal(await post("Host: evil.example"), 403, "DNS rebinding: a foreign name");
    assert.equal(await post(`Host: evil.example:${port}`), 403);
    assert.equal(await post(`Host: 127.0.0.1:${port + 1}`), 403, "another port");
    assert.equal(await post(`Host: 127.0.0.1:${port}\r\nOrigin: http://evil.example`), 403);
    assert.equal(await post(`Host: localhost:${port}\r\nOrigin: null`), 403);
    assert.deepEqual(calls, [], "no refused request reached the route");

    for (const host of ["evil.example", `10.1.2.3:${port}`]) {
      assert.equal(await rawStatus(port, `GET /metrics HTTP/1.1\r\nHost: ${host}`), 403, host);
    }
    assert.equal(
      await rawStatus(port, `GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nOrigin: x`),
      403,
    );
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, "localhost", "127.0.0.1"]) {
      assert.equal(await rawStatus(port, `GET /metrics HTTP/1.1\r\nHost: ${host}`), 200, host);
    }

    const served = await fetch(`${base}/servers/1080/exit`, { method: "POST", body: "{}" });
    assert.equal(await served.text(), "moved");
    assert.equal(calls.length, 1);
    assert.match(calls[0]!, /^1080 from 127\.0\.0\.1:\d+$/, "the route learns the client address");
  });
});

Deno.test("metricsRequestRefusal: on a non-loopback listener, only /metrics without Origin is served", () => {
  const remote = { hostname: "0.0.0.0", port: 9091 };
  const scraper = new Headers({ host: "10.0.0.5:9091" });
  assert.equal(metricsRequestRefusal(scraper, "/metrics", remote), undefined);
  assert.match(
    metricsRequestRefusal(
      new Headers({ host: "10.0.0.5:9091", origin: "http://a" }),
      "/metrics",
      remote,
    ) ??
      "",
    /Origin/,
  );
  assert.match(
    metricsRequestRefusal(new Headers({ host: "127.0.0.1:9091" }), "/servers", remote) ?? "",
    /\/servers is served only when the metrics endpoint listens on loopback/,
  );
  const local = { hostname: "127.0.0.1", port: 9091 };
  assert.match(metricsRequestRefusal(scraper, "/metrics", local) ?? "", /Host "10\.0\.0\.5:9091"/);
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

// ---------------------------------------------------------------------------
// The plugin (mod.ts): options, permissions, and the endpoint's lifecycle.

// A concrete plugin is not assignable to the widest PluginDefinition (see plugins/builtin.ts).
const generic = plugin as unknown as PluginDefinition;
const ctx = { stateDir: "/var/lib/p2proxy", role: "proxy" as const };
const createCtx = (role: "proxy" | "exit" = "proxy") => ({
  stateDir: ".",
  role,
  get: () => assert.fail("metrics-prometheus requires nothing"),
  find: () => assert.fail("metrics-prometheus wants nothing"),
});

/** A port that was free a moment ago (the plugin, unlike the server, reads 0 as "disabled"). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

Deno.test("metrics-prometheus options: IPv6 and port 0, bad values, loopback unless allowed", async (t) => {
  await t.step("role, IPv6 and port 0 parse", () => {
    const parsed = plugin.options.parse({ port: 0, bind: "[::1]", role: "exit" });
    assert.deepEqual(parsed, { port: 0, bind: "::1", role: "exit", allow_remote: false });
  });
  await t.step("bad ports, host names and unknown roles are refused", () => {
    for (
      const raw of [
        { port: 70_000 },
        { port: -1 },
        { port: "9091" },
        { bind: "localhost" },
        { role: "relay" },
        { allow_remote: "yes" },
      ]
    ) {
      assert.equal(plugin.options.safeParse(raw).success, false, JSON.stringify(raw));
    }
  });
  await t.step("a non-loopback bind needs allow_remote", () => {
    const refused = plugin.options.safeParse({ bind: "0.0.0.0" });
    assert.equal(refused.success, false);
    assert.deepEqual(refused.error?.issues[0]?.path, ["bind"]);
    assert.match(refused.error?.issues[0]?.message ?? "", /allow_remote/);
    assert.equal(plugin.options.safeParse({ bind: "0.0.0.0", allow_remote: true }).success, true);
    assert.equal(plugin.options.safeParse({ bind: "0.0.0.0", port: 0 }).success, true, "disabled");
  });
});

Deno.test("metrics-prometheus permissions: listen on bind:port, nothing when disabled", () => {
  const permissionsOf = (raw: Record<string, unknown>) =>
    plugin.permissions?.(plugin.options.parse(raw), ctx);
  assert.deepEqual(permissionsOf({}), { net: ["127.0.0.1:9091"] });
  assert.deepEqual(permissionsOf({ port: 9100, bind: "::1" }), { net: ["[::1]:9100"] });
  assert.deepEqual(permissionsOf({ port: 0 }), {});
  assert.deepEqual(renderPermissionFlags(permissionsOf({})!), ["--allow-net=127.0.0.1:9091"]);
  assert.deepEqual(metricsPermissions(plugin.options.parse({ port: 0, bind: "::1" })), {});
});

Deno.test("the metrics plugin's sink passes the event sink compliance suite", (t) =>
  eventSinkCompliance(t, async () => {
    const instance = await plugin.create(plugin.options.parse({ port: 0 }), createCtx());
    return { sink: instance.provides["event-sink"], cleanup: () => instance.stop?.() };
  }));

Deno.test("port 0 disables the endpoint but the sink still counts", async () => {
  const instance = await plugin.create(
    plugin.options.parse({ port: 0 }),
    createCtx(),
  ) as MetricsPluginInstance;
  await instance.start?.();
  try {
    assert.equal(instance.endpoint.server, undefined);
    assert.equal(instance.endpoint.url(), undefined);
    const sink = instance.provides["event-sink"];
    assert.ok(sink instanceof PrometheusSink);
    sink.emit({ type: "socks-accepted", port: 1080 });
    const samples = parseSamples(await sink.registry.metrics());
    assert.equal(valueOf(samples, "p2proxy_socks_connections_total"), 1);
  } finally {
    await instance.stop?.();
  }
});

Deno.test("the plugin listens on start, serves its sink's metrics, and closes on stop", async () => {
  const port = freePort();
  const instance = await plugin.create(
    plugin.options.parse({ port }),
    createCtx("exit"),
  ) as MetricsPluginInstance;
  assert.equal(instance.endpoint.url(), undefined, "not listening before start");
  await instance.start?.();
  const url = instance.endpoint.url();
  try {
    assert.equal(url, `http://127.0.0.1:${port}/metrics`);
    instance.provides["event-sink"].emit({
      type: "exit-denied",
      peerId: aPeerId(3),
      target: "10.0.0.1:22",
      reason: "denied-range",
    });
    const text = await (await fetch(url!)).text();
    assert.ok(declaredNames(text).has("p2proxy_exit_sessions_total"), "role defaults to ctx.role");
    assert.equal(
      valueOf(parseSamples(text), "p2proxy_exit_denied_total", { reason: "denied-range" }),
      1,
    );
  } finally {
    await instance.stop?.();
  }
  await assert.rejects(fetch(url!), "closed after stop");
});

Deno.test("the host composes the plugin and stops its server", async () => {
  const plan = planComposition({
    plugins: [generic],
    needs: ["event-sink"],
    options: { "@p2proxy/metrics-prometheus": { port: freePort(), role: "proxy" } },
  });
  const composition = await Composition.create(plan, { stateDir: ".", role: "exit" });
  await composition.start();
  try {
    composition.get("event-sink").emit({ type: "jit-discovery", port: 1080 });
  } finally {
    assert.deepEqual(await composition.stop(), []);
  }
});

Deno.test("createMetricsEndpoint: explicit role wins, version is passed through", async () => {
  const endpoint = createMetricsEndpoint(plugin.options.parse({ port: 0, role: "hub" }), {
    role: "proxy",
    version: "1.2.3",
  });
  const samples = parseSamples(await endpoint.sink.registry.metrics());
  assert.equal(valueOf(samples, "p2proxy_build_info", { version: "1.2.3", role: "hub" }), 1);
});

Deno.test("metrics-prometheus exposes its HTTP endpoint for routes (the proxy's admin API)", async () => {
  const options = plugin.options.parse({ port: 0 });
  const disabled = await plugin.create(options, {
    stateDir: ".",
    role: "proxy",
    get: () => {
      throw new Error("no capabilities needed");
    },
    find: () => {
      throw new Error("no capabilities wanted");
    },
  });
  // Port 0 disables the endpoint: routes are accepted and ignored, there is no URL.
  disabled.provides["http-routes"].route("GET", /^\/x$/, () => new Response("x"));
  assert.equal(disabled.provides["http-routes"].baseUrl(), undefined);
  await disabled.stop?.();
});
