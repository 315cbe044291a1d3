/**
 * The proxy's admin API over real HTTP against a running proxy (hub, two
 * exits and the proxy as processes on loopback): every request a web page or
 * a careless caller could send is refused, and none of them moves an exit.
 *
 * - a foreign `Host` (DNS rebinding) or any `Origin` → 403, before the body
 *   is read and before the token is looked at;
 * - no or a wrong `Authorization: Bearer` → 401 (the token comes from
 *   P2PROXY_ADMIN_TOKEN);
 * - a body that is not `application/json` → 415; one over 4 KiB → 413;
 * - a choice against the hard pin or the filters → 409 naming the rule;
 *   `"override": true` goes through, and the log names who chose;
 * - `p2proxy check` warns when the admin API is on without a token.
 *
 * `Host: evil.example` is a header value sent to 127.0.0.1: nothing is resolved.
 *
 * @module
 */
import assert from "node:assert/strict";
import { FileIdentity } from "../plugins/identity-file/file_identity.ts";
import { runCli } from "./_cli.ts";
import {
  adminRequestViaCurl,
  Cluster,
  firstWhoamiVia,
  freePort,
  pollUntil,
  selectExitManually,
  serverRow,
  startWhoami,
  whoamiVia,
} from "./_network.ts";

/** A token as `openssl rand -hex 32` would make one. */
const TOKEN = "3f9a1c0d7e2b4a6f8c1d3e5f7a9b0c2d4e6f8a1b3c5d7e9f0a2b4c6d8e0f1a3b";
/** Bound on a port getting its first exit (discovery retries every second). */
const FIRST_EXIT_MS = 15_000;
/** Larger than the admin API reads (4096 bytes). */
const OVERSIZED_BODY_BYTES = 64 * 1024;

const NL = { source: "127.0.0.2", country: "NL" };
const DE = { source: "127.0.0.3", country: "DE" };

Deno.test("admin API: refuses what a web page or a careless caller sends; override goes through", async (t) => {
  const cluster = new Cluster();
  const whoami = startWhoami();
  try {
    const hub = await cluster.hub();
    const [nl, de] = await Promise.all(
      [NL, DE].map((e) => cluster.exit(e.source, hub, { attributes: { country: e.country } })),
    );
    const pinnedPort = freePort();
    const filteredPort = freePort();
    const proxy = await cluster.proxy(hub, {
      servers: [
        { port: pinnedPort, destination_peers: [nl!.peerId] },
        { port: filteredPort, country: "NL" },
      ],
    }, { env: { P2PROXY_ADMIN_TOKEN: TOKEN }, logLevel: "info" });
    const metricsPort = proxy.metricsPort;
    const base = `http://127.0.0.1:${metricsPort}`;
    // Which transport carries the exit is tests/quic_test.ts's subject, not this test's.
    const row = async (port: number) => {
      const { transport: _transport, ...rest } = await serverRow(metricsPort, port, TOKEN);
      return rest;
    };
    /** Every exit as it was before the refusals; asserted unchanged after each. */
    const assertUnchanged = async (what: string) => {
      assert.deepEqual(await row(pinnedPort), {
        port: pinnedPort,
        peer_id: nl!.peerId,
        source: "pinned[0]",
      }, what);
      assert.deepEqual(await row(filteredPort), {
        port: filteredPort,
        peer_id: nl!.peerId,
        source: "discovered",
      }, what);
    };

    assert.equal(await firstWhoamiVia(pinnedPort, whoami, FIRST_EXIT_MS), NL.source);
    assert.equal(await firstWhoamiVia(filteredPort, whoami, FIRST_EXIT_MS), NL.source);
    await pollUntil(
      async () => (await row(filteredPort)).peer_id ?? undefined,
      FIRST_EXIT_MS,
      "the admin API",
    );
    await assertUnchanged("at start");
    const selection = JSON.stringify({ peer_id: de!.peerId, override: true });

    await t.step("a foreign Host is refused with 403, even with the token", async () => {
      const authorized = { authorization: `Bearer ${TOKEN}` };
      for (
        const host of [
          "evil.example",
          `evil.example:${metricsPort}`,
          `127.0.0.1:${metricsPort + 1}`,
        ]
      ) {
        const get = await adminRequestViaCurl(metricsPort, "/servers", {
          headers: { host, ...authorized },
        });
        assert.equal(get.status, 403, `${host}: ${get.body}`);
        assert.doesNotMatch(get.body, new RegExp(nl!.peerId), "nothing about the exits leaks");
        const post = await adminRequestViaCurl(metricsPort, `/servers/${pinnedPort}/exit`, {
          method: "POST",
          headers: { host, ...authorized, "content-type": "application/json" },
          body: selection,
        });
        assert.equal(post.status, 403, `${host}: ${post.body}`);
      }
      const metrics = await adminRequestViaCurl(metricsPort, "/metrics", {
        headers: { host: "evil.example" },
      });
      assert.equal(metrics.status, 403, "/metrics reveals state too");
      const local = await adminRequestViaCurl(metricsPort, "/servers", {
        headers: { host: `localhost:${metricsPort}`, ...authorized },
      });
      assert.equal(local.status, 200, local.body);
      await assertUnchanged("after requests with a foreign Host");
    });

    await t.step("a browser-style cross-origin request is refused and moves nothing", async () => {
      // What a page's fetch() or form sends: a simple request, no preflight, its Origin.
      for (
        const headers of [
          { origin: "http://evil.example", "content-type": "text/plain" },
          {
            origin: "http://evil.example",
            "content-type": "application/json",
            authorization: `Bearer ${TOKEN}`,
          },
          { origin: "null", "content-type": "application/x-www-form-urlencoded" },
        ] as Record<string, string>[]
      ) {
        const response = await fetch(`${base}/servers/${pinnedPort}/exit`, {
          method: "POST",
          headers,
          body: selection,
        });
        assert.equal(response.status, 403, JSON.stringify(headers));
        assert.match(await response.text(), /Origin/);
      }
      const read = await fetch(`${base}/servers`, { headers: { origin: "http://evil.example" } });
      assert.equal(read.status, 403);
      await read.body?.cancel();
      await assertUnchanged("after cross-origin requests");
    });

    await t.step(
      "no token or a wrong one is refused with 401 and WWW-Authenticate: Bearer",
      async () => {
        for (
          const headers of [{}, { authorization: `Bearer ${TOKEN.slice(0, -1)}0` }, {
            authorization: TOKEN,
          }] as Record<string, string>[]
        ) {
          const read = await fetch(`${base}/servers`, { headers });
          assert.equal(read.status, 401, JSON.stringify(headers));
          assert.match(read.headers.get("www-authenticate") ?? "", /^Bearer\b/);
          await read.body?.cancel();
          const write = await fetch(`${base}/servers/${pinnedPort}/exit`, {
            method: "POST",
            headers: { ...headers, "content-type": "application/json" },
            body: selection,
          });
          assert.equal(write.status, 401);
          assert.match((await write.json()).error, /admin_token/);
        }
        await assertUnchanged("after unauthorized requests");
      },
    );

    await t.step(
      "only application/json bodies (415), at most 4 KiB however they arrive (413)",
      async () => {
        for (
          const type of [
            undefined,
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
          ]
        ) {
          const response = await fetch(`${base}/servers/${pinnedPort}/exit`, {
            method: "POST",
            headers: {
              authorization: `Bearer ${TOKEN}`,
              ...(type ? { "content-type": type } : {}),
            },
            body: selection,
          });
          assert.equal(response.status, 415, String(type));
          await response.body?.cancel();
        }
        // Chunked, without a Content-Length: the bound is counted on what arrives.
        const padded = `{"peer_id": "${de!.peerId}", "override": true}${
          " ".repeat(OVERSIZED_BODY_BYTES)
        }`;
        const chunks = new TextEncoder().encode(padded);
        const oversized = await fetch(`${base}/servers/${pinnedPort}/exit`, {
          method: "POST",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
          body: new ReadableStream({
            start(controller) {
              for (let at = 0; at < chunks.byteLength; at += 1024) {
                controller.enqueue(chunks.slice(at, at + 1024));
              }
              controller.close();
            },
          }),
        });
        assert.equal(oversized.status, 413);
        await oversized.body?.cancel();
        await assertUnchanged("after refused bodies");
      },
    );

    await t.step(
      "a choice against the hard pin or the filters is refused with 409 naming the rule",
      async () => {
        const pinned = await selectExitManually(metricsPort, pinnedPort, de!.peerId, {
          token: TOKEN,
        });
        assert.equal(pinned.status, 409, JSON.stringify(pinned.body));
        assert.equal(pinned.body.rule, "hard-pin");
        assert.match(
          String(pinned.body.error),
          new RegExp(`destination_peers \\[${nl!.peerId}\\]`),
        );
        assert.match(String(pinned.body.error), /"override": true/);

        const filtered = await selectExitManually(metricsPort, filteredPort, de!.peerId, {
          token: TOKEN,
        });
        assert.equal(filtered.status, 409, JSON.stringify(filtered.body));
        assert.equal(filtered.body.rule, "filters");
        assert.match(String(filtered.body.error), /country "DE" is not "NL"/);

        const stranger = (await FileIdentity.generate()).peerId;
        const unknown = await selectExitManually(metricsPort, filteredPort, stranger, {
          token: TOKEN,
        });
        assert.equal(unknown.status, 409);
        assert.equal(unknown.body.rule, "filters-unverifiable");
        assert.match(String(unknown.body.error), /the hub does not know it/);
        await assertUnchanged("after refused choices");
      },
    );

    await t.step(
      "with override: true the choice goes through, and the log names who made it",
      async () => {
        for (const port of [pinnedPort, filteredPort]) {
          const chosen = await selectExitManually(metricsPort, port, de!.peerId, {
            token: TOKEN,
            override: true,
          });
          assert.equal(chosen.status, 200, JSON.stringify(chosen.body));
          assert.deepEqual(await row(port), { port, peer_id: de!.peerId, source: "manual" });
          assert.equal(await whoamiVia(port, whoami), DE.source);
        }
        // Log values may be quoted by the formatter: match around the quotes.
        const logs = proxy.logs();
        const by = String.raw`"?admin API from 127\.0\.0\.1:\d+"?`;
        assert.match(
          logs,
          new RegExp(String.raw`${de!.peerId}"? \("?manual"?\), chosen by ${by} with override`),
        );
        assert.match(
          logs,
          new RegExp(String.raw`Refused exit .* chosen by ${by}: "?Port \d+ is hard-pinned`),
        );
      },
    );

    await t.step(
      "/v1: the same guards; listeners, candidates, a choice and back to automatic",
      async () => {
        const auth = { authorization: `Bearer ${TOKEN}` };
        const pinnedName = `mixed-${pinnedPort}`;
        const filteredName = `mixed-${filteredPort}`;
        const foreign = await adminRequestViaCurl(metricsPort, "/v1/exits", {
          headers: { host: "evil.example", ...auth },
        });
        assert.equal(foreign.status, 403, foreign.body);
        const crossOrigin = await fetch(`${base}/v1/listeners/${filteredName}/exit`, {
          method: "PUT",
          headers: { origin: "http://evil.example", "content-type": "application/json", ...auth },
          body: JSON.stringify({ peer_id: nl!.peerId }),
        });
        assert.equal(crossOrigin.status, 403);
        await crossOrigin.body?.cancel();
        for (const method of ["GET", "DELETE"]) {
          const path = method === "GET" ? "/v1/listeners" : `/v1/listeners/${filteredName}/exit`;
          const anonymous = await fetch(`${base}${path}`, { method });
          assert.equal(anonymous.status, 401, method);
          await anonymous.body?.cancel();
        }

        const deprecatedList = await fetch(`${base}/servers`, { headers: auth });
        assert.equal(deprecatedList.headers.get("deprecation"), "true");
        assert.match(deprecatedList.headers.get("link") ?? "", /<\/v1\/listeners>/);
        await deprecatedList.body?.cancel();

        const listeners = await (await fetch(`${base}/v1/listeners`, { headers: auth })).json();
        assert.deepEqual(
          listeners.listeners.map((
            l: { name: string; exit: { peer_id: string; source: string } },
          ) => [l.name, { peer_id: l.exit.peer_id, source: l.exit.source }]),
          [
            [pinnedName, { peer_id: de!.peerId, source: "manual" }],
            [filteredName, { peer_id: de!.peerId, source: "manual" }],
          ],
        );
        const exits = await (await fetch(`${base}/v1/exits`, { headers: auth })).json();
        const candidate = (id: string) =>
          exits.candidates.find((c: { peer_id: string }) => c.peer_id === id);
        assert.deepEqual(candidate(nl!.peerId)?.offered_for, [pinnedName, filteredName]);
        assert.equal(candidate(nl!.peerId)?.attributes?.country, "NL");
        assert.deepEqual(candidate(nl!.peerId)?.used_by, []);
        assert.equal(candidate(de!.peerId), undefined, "DE passes neither listener's config");
        assert.deepEqual(exits.problems, []);

        const refused = await fetch(`${base}/v1/listeners/${filteredName}/exit`, {
          method: "PUT",
          headers: { "content-type": "application/json", ...auth },
          body: JSON.stringify({ peer_id: de!.peerId }),
        });
        assert.equal(refused.status, 409);
        assert.equal((await refused.json()).rule, "filters");

        for (
          const [name, port, source] of [
            [filteredName, filteredPort, "sticky"],
            [pinnedName, pinnedPort, "pinned[0]"],
          ] as const
        ) {
          const back = await fetch(`${base}/v1/listeners/${name}/exit`, {
            method: "DELETE",
            headers: auth,
          });
          assert.equal(back.status, 200, name);
          // The exit's transport (QUIC or libp2p) is known only once a session used it.
          const { transport: _transport, ...exit } = (await back.json()).listener.exit;
          assert.deepEqual(exit, { peer_id: nl!.peerId, source });
          assert.equal(await whoamiVia(port, whoami), NL.source, `${name} leaves from NL again`);
        }
        const logs = proxy.logs();
        assert.match(logs, /chooses its exit automatically again, asked by "?admin API from/);
      },
    );
  } finally {
    await cluster.close();
    await whoami.close();
  }
});

Deno.test("check warns when the admin API is on without admin_token", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p2proxy-admin-check-" });
  try {
    const config = `${dir}/proxy.yaml`;
    const check = async (text: string, env: Record<string, string> = {}) => {
      await Deno.writeTextFile(config, text);
      const result = await runCli(["check", "-c", config], { env });
      assert.equal(result.code, 0, result.stderr);
      return result.stdout;
    };
    // A server needs a route to load; nothing dials this well-formed peer id.
    const servers =
      "servers: [{ port: 1080, destination_peers: [12D3KooWS6M2cP13vSHoPXVYbmYvhFgZowNrwyy7VkvbEUgXiXGZ] }]\n";
    assert.match(
      await check(servers),
      /admin API \(on metrics port 9091\) is on without `admin_token`/,
    );
    assert.doesNotMatch(await check(`admin_token: ${TOKEN}\n${servers}`), /admin_token/);
    assert.doesNotMatch(await check(servers, { P2PROXY_ADMIN_TOKEN: TOKEN }), /admin_token/);
    assert.doesNotMatch(await check(`metrics_port: 0\n${servers}`), /admin_token/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
