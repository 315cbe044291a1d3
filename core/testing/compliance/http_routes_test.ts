import assert from "node:assert/strict";
import type { HttpRouteHandler, HttpRoutes } from "../../ports/http_routes.ts";
import { httpRoutesCompliance } from "./http_routes.ts";
import { recordingContext } from "./_recording_context.ts";

/** How an in-memory endpoint may be broken, one flaw at a time. */
interface Flaws {
  readonly baseUrl?: string;
  readonly ignoresMethod?: boolean;
  readonly lastRouteWins?: boolean;
  readonly allowsOrigin?: boolean;
  readonly notFoundStatus?: number;
  readonly showsErrors?: boolean;
  readonly firstRouteCatchesAll?: boolean;
}

/**
 * An endpoint that routes requests in memory the way the port says (no sockets: the core does no
 * I/O), with optional flaws for the suite to catch.
 */
function memoryEndpoint(
  flaws: Flaws = {},
): { routes: HttpRoutes; send: (r: Request) => Promise<Response> } {
  const table: { method: string; pattern: RegExp; handler: HttpRouteHandler }[] = [];
  const routes: HttpRoutes = {
    route: (method, pattern, handler) => void table.push({ method, pattern, handler }),
    baseUrl: () => flaws.baseUrl ?? "http://127.0.0.1:9091",
  };
  const send = async (request: Request): Promise<Response> => {
    if (request.headers.has("origin") && !flaws.allowsOrigin) {
      return new Response("Refused: cross-origin.", { status: 403 });
    }
    const path = new URL(request.url).pathname;
    const candidates = flaws.lastRouteWins ? [...table].reverse() : table;
    let pathMatched = false;
    for (const route of candidates) {
      const match = route.pattern.exec(path);
      if (!match) continue;
      pathMatched = true;
      if (!flaws.ignoresMethod && route.method !== request.method) continue;
      try {
        return await route.handler(request, match, { remoteAddress: "127.0.0.1:50123" });
      } catch (error) {
        return new Response(flaws.showsErrors ? String(error) : "Internal error.", { status: 500 });
      }
    }
    const first = table[0];
    if (!pathMatched && flaws.firstRouteCatchesAll && first) {
      return await first.handler(request, /.*/.exec(path)!, { remoteAddress: "127.0.0.1:50123" });
    }
    return new Response("no", { status: pathMatched ? 405 : flaws.notFoundStatus ?? 404 });
  };
  return { routes, send };
}

async function failedSteps(flaws: Flaws): Promise<string[]> {
  const recording = recordingContext();
  await httpRoutesCompliance(recording.t, () => memoryEndpoint(flaws));
  return recording.failed();
}

Deno.test("an endpoint that routes as the port says passes the http-routes suite", async (t) => {
  await httpRoutesCompliance(t, () => memoryEndpoint());
});

Deno.test("the http-routes suite fails an endpoint for each flaw, in the step about it", async () => {
  // A base with a path also breaks every route joined to it; the first step names why.
  const withPath = await failedSteps({ baseUrl: "http://127.0.0.1:9091/metrics" });
  assert.equal(withPath[0], "baseUrl() is an http(s) origin without a path or a trailing slash");
  assert.deepEqual(await failedSteps({ ignoresMethod: true }), [
    "a matching path with another method is refused and reaches no handler",
  ]);
  assert.deepEqual(await failedSteps({ lastRouteWins: true }), [
    "routes are tried in the order they were added",
  ]);
  assert.deepEqual(await failedSteps({ allowsOrigin: true }), [
    "a request with an Origin (a web page sent it) is refused with 403 unread",
  ]);
  assert.deepEqual(await failedSteps({ notFoundStatus: 200 }), [
    "a path no route matches gets a 404 and reaches no handler",
  ]);
  assert.deepEqual(await failedSteps({ showsErrors: true }), [
    "a handler that throws costs a 5xx, and the endpoint keeps serving",
  ]);
  assert.deepEqual(await failedSteps({ firstRouteCatchesAll: true }), [
    "a path no route matches gets a 404 and reaches no handler",
  ]);
});

Deno.test("the http-routes suite fails an endpoint that is not listening", async () => {
  const recording = recordingContext();
  await httpRoutesCompliance(recording.t, () => ({
    routes: { route: () => {}, baseUrl: () => undefined },
    send: () => Promise.reject(new Error("not listening")),
  }));
  assert.equal(recording.failed().length, recording.outcomes.length);
});
