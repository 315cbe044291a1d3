/**
 * Compliance suite of the `HttpRoutes` port (the loopback HTTP endpoint the proxy's admin API rides
 * on): any endpoint, built-in or third-party, runs it against itself. It checks what the admin API
 * relies on — a route added to a running endpoint answers, matched by method and path pattern, with
 * the match and the caller's address; routes are tried in the order added; nothing else reaches a
 * handler; a request a web page sent (an `Origin` header) is refused before any handler runs; a
 * handler that throws costs one 5xx, not the endpoint.
 *
 * The suite sends requests through the fixture's `send` (usually `fetch`), so that the core does
 * no I/O of its own. A foreign `Host` cannot be set through `fetch`; the endpoint's own tests must
 * cover that check.
 *
 * @example
 * ```ts
 * import { httpRoutesCompliance } from "@p2proxy/p2proxy/testing";
 *
 * Deno.test("MyEndpoint provides http-routes", (t) =>
 *   httpRoutesCompliance(t, async () => {
 *     const endpoint = new MyEndpoint({ hostname: "127.0.0.1", port: 0 });
 *     await endpoint.start();
 *     return { routes: endpoint, send: (request) => fetch(request), cleanup: () => endpoint.stop() };
 *   }));
 * ```
 *
 * @module
 */
import assert from "node:assert/strict";
import type { TestContext } from "./_test_context.ts";
import type { HttpClient, HttpRoutes } from "../../ports/http_routes.ts";
import { type Awaitable, type Releasable, withFixture } from "./_harness.ts";

/** What an `HttpRoutes` factory hands the suite. */
export interface HttpRoutesFixture extends Releasable {
  /** The endpoint under test, already listening (its `baseUrl()` is defined). */
  readonly routes: HttpRoutes;
  /** Sends a request to the endpoint and resolves with its response (`fetch` does). */
  readonly send: (request: Request) => Promise<Response>;
}

/** A path prefix no real route uses, so the suite's routes never meet the endpoint's own. */
const PREFIX = "/p2proxy-compliance";

/** What a `host:port` (IPv6 in brackets) looks like. */
const HOST_PORT_PATTERN = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):\d{1,5}$/;

/** Records the calls a handler got. */
function counted(
  respond: (request: Request, match: RegExpExecArray, client: HttpClient) => Awaitable<Response>,
) {
  const calls: { method: string; path: string }[] = [];
  return {
    calls,
    handler: (request: Request, match: RegExpExecArray, client: HttpClient) => {
      calls.push({ method: request.method, path: new URL(request.url).pathname });
      return respond(request, match, client);
    },
  };
}

/** The endpoint's base URL, checked to be there. */
function baseOf(routes: HttpRoutes): string {
  const base = routes.baseUrl();
  assert.ok(base !== undefined, "baseUrl() is undefined: hand the suite a listening endpoint");
  return base;
}

/** Sends `init` to `path` under the endpoint and reads the body (so no response stays open). */
async function call(
  fixture: HttpRoutesFixture,
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: string }> {
  const response = await fixture.send(new Request(`${baseOf(fixture.routes)}${path}`, init));
  return { status: response.status, body: await response.text() };
}

/**
 * Runs the `HttpRoutes` compliance steps against fresh fixtures from `make`, each listening
 * already: `baseUrl()`'s form, routing by method and pattern (the match and the client handed
 * over), the request reaching the handler whole, order of routes, 404 and method refusals without
 * a handler call, refusal of a request with an `Origin`, and a throwing handler.
 */
export async function httpRoutesCompliance(
  t: TestContext,
  make: () => Awaitable<HttpRoutesFixture>,
): Promise<void> {
  await t.step(
    "baseUrl() is an http(s) origin without a path or a trailing slash",
    () =>
      withFixture(make, ({ routes }) => {
        const base = baseOf(routes);
        const url = new URL(base);
        assert.ok(url.protocol === "http:" || url.protocol === "https:", `scheme of ${base}`);
        assert.equal(url.pathname, "/", `${base} has a path`);
        assert.ok(
          !base.endsWith("/"),
          `${base} ends with "/": routes are joined to it as base + path`,
        );
        assert.equal(url.search + url.hash, "", `${base} has a query or fragment`);
        return Promise.resolve();
      }),
  );

  await t.step(
    "a route added to the running endpoint answers, with the match and the caller's address",
    () =>
      withFixture(make, async (fixture) => {
        const echo = counted((_request, match, client) =>
          Response.json({ id: match[1], remote: client.remoteAddress })
        );
        fixture.routes.route("GET", new RegExp(`^${PREFIX}/echo/([a-z0-9]+)$`), echo.handler);
        const answer = await call(fixture, `${PREFIX}/echo/abc123`);
        assert.equal(answer.status, 200, answer.body);
        const body = JSON.parse(answer.body) as { id: string; remote: string };
        assert.equal(body.id, "abc123", "the handler gets the pattern's match");
        assert.match(body.remote, HOST_PORT_PATTERN, "client.remoteAddress is host:port");
        assert.deepEqual(echo.calls, [{ method: "GET", path: `${PREFIX}/echo/abc123` }]);
      }),
  );

  await t.step(
    "the handler gets the request's method, headers and body",
    () =>
      withFixture(make, async (fixture) => {
        fixture.routes.route("POST", new RegExp(`^${PREFIX}/body$`), async (request) =>
          Response.json({
            method: request.method,
            type: request.headers.get("content-type"),
            marker: request.headers.get("x-p2proxy-compliance"),
            body: await request.json(),
          }));
        const payload = { peer_id: "12D3KooW…", override: true, nested: [1, "two"] };
        const answer = await call(fixture, `${PREFIX}/body`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-p2proxy-compliance": "yes" },
          body: JSON.stringify(payload),
        });
        assert.equal(answer.status, 200, answer.body);
        assert.deepEqual(JSON.parse(answer.body), {
          method: "POST",
          type: "application/json",
          marker: "yes",
          body: payload,
        });
      }),
  );

  await t.step(
    "routes are tried in the order they were added",
    () =>
      withFixture(make, async (fixture) => {
        const first = counted(() => new Response("first"));
        const second = counted(() => new Response("second"));
        fixture.routes.route("GET", new RegExp(`^${PREFIX}/order/.*$`), first.handler);
        fixture.routes.route("GET", new RegExp(`^${PREFIX}/order/exact$`), second.handler);
        const answer = await call(fixture, `${PREFIX}/order/exact`);
        assert.equal(answer.body, "first");
        assert.equal(second.calls.length, 0, "a later route ran although an earlier one matched");
      }),
  );

  await t.step(
    "a path no route matches gets a 404 and reaches no handler",
    () =>
      withFixture(make, async (fixture) => {
        const route = counted(() => new Response("routed"));
        fixture.routes.route("GET", new RegExp(`^${PREFIX}/known$`), route.handler);
        for (const path of [`${PREFIX}/unknown`, `${PREFIX}/known/more`, `${PREFIX}/Known`]) {
          const answer = await call(fixture, path);
          assert.equal(answer.status, 404, `${path}: ${answer.status} ${answer.body}`);
        }
        assert.deepEqual(route.calls, [], "a handler ran for a path its pattern does not match");
      }),
  );

  await t.step(
    "a matching path with another method is refused and reaches no handler",
    () =>
      withFixture(make, async (fixture) => {
        const route = counted(() => new Response("routed"));
        fixture.routes.route("POST", new RegExp(`^${PREFIX}/post-only$`), route.handler);
        for (const method of ["GET", "PUT", "DELETE"]) {
          const answer = await call(fixture, `${PREFIX}/post-only`, { method });
          assert.ok(
            answer.status >= 400 && answer.status < 500,
            `${method}: answered ${answer.status} (expected 405 or another 4xx)`,
          );
        }
        assert.deepEqual(route.calls, [], "a handler ran for a method it was not added for");
      }),
  );

  await t.step(
    "a request with an Origin (a web page sent it) is refused with 403 unread",
    () =>
      withFixture(make, async (fixture) => {
        const route = counted(() => new Response("routed"));
        fixture.routes.route("POST", new RegExp(`^${PREFIX}/admin$`), route.handler);
        for (const origin of ["http://evil.example", "null"]) {
          const answer = await call(fixture, `${PREFIX}/admin`, {
            method: "POST",
            headers: { origin, "content-type": "application/json" },
            body: "{}",
          });
          assert.equal(answer.status, 403, `Origin ${origin}: ${answer.status} ${answer.body}`);
        }
        assert.deepEqual(route.calls, [], "a handler ran for a request a web page sent");
      }),
  );

  await t.step(
    "a handler that throws costs a 5xx, and the endpoint keeps serving",
    () =>
      withFixture(make, async (fixture) => {
        fixture.routes.route("GET", new RegExp(`^${PREFIX}/throws$`), () => {
          throw new Error("compliance: a handler failed");
        });
        fixture.routes.route("GET", new RegExp(`^${PREFIX}/rejects$`), () => {
          return Promise.reject(new Error("compliance: a handler rejected"));
        });
        fixture.routes.route("GET", new RegExp(`^${PREFIX}/fine$`), () => new Response("fine"));
        for (const path of [`${PREFIX}/throws`, `${PREFIX}/rejects`]) {
          const answer = await call(fixture, path);
          assert.ok(answer.status >= 500 && answer.status < 600, `${path}: ${answer.status}`);
          assert.doesNotMatch(answer.body, /compliance: a handler/, "the error is not shown");
        }
        const after = await call(fixture, `${PREFIX}/fine`);
        assert.equal(after.status, 200);
        assert.equal(after.body, "fine");
      }),
  );
}
