/**
 * The admin routes' body handling, driven directly (the HTTP guards and the
 * refusals over a real proxy are in tests/admin_api_test.ts): what reaches
 * `selectExit`, and the bodies that never do.
 */
import assert from "node:assert/strict";
import { asPeerId, type PeerId } from "../core/ids.ts";
import type { HttpRouteHandler, HttpRoutes } from "../core/ports/http_routes.ts";
import { aPeerId } from "../core/testing/builders.ts";
import { registerAdminRoutes } from "./admin_api.ts";
import type { ManualSelectionOutcome, ManualSelectionRequest } from "./discovery_actor.ts";

const PEER = aPeerId(1);
const CLIENT = { remoteAddress: "127.0.0.1:40000" };

/** The routes as registered, and every `selectExit` call the actor saw. */
function adminApi(bodyTimeoutMs?: number) {
  const routes = new Map<string, { pattern: RegExp; handler: HttpRouteHandler }>();
  const http: HttpRoutes = {
    route: (method, pattern, handler) => void routes.set(method, { pattern, handler }),
    baseUrl: () => "http://127.0.0.1:9091",
  };
  const calls: { port: number; peer: PeerId; request: ManualSelectionRequest }[] = [];
  registerAdminRoutes(http, {
    actor: {
      activeExit: () => undefined,
      selectExit: (port, peer, request): Promise<ManualSelectionOutcome> => {
        calls.push({ port, peer, request });
        return Promise.resolve({
          kind: "selected",
          exit: { peerId: peer, source: { kind: "manual" } },
        });
      },
    },
    ports: [1080],
    ...(bodyTimeoutMs === undefined ? {} : { bodyTimeoutMs }),
  });
  const post = async (init: RequestInit & { path?: string }) => {
    const route = routes.get("POST")!;
    const path = init.path ?? "/servers/1080/exit";
    const match = route.pattern.exec(path);
    assert.ok(match, path);
    const request = new Request(`http://127.0.0.1:9091${path}`, { method: "POST", ...init });
    const response = await route.handler(request, match, CLIENT);
    return { status: response.status, body: await response.json() as Record<string, unknown> };
  };
  return { post, calls };
}

const JSON_TYPE = { "content-type": "application/json" };

Deno.test("admin API: a good body reaches selectExit with the override flag and who asked", async () => {
  const api = adminApi();
  const plain = await api.post({ headers: JSON_TYPE, body: JSON.stringify({ peer_id: PEER }) });
  assert.equal(plain.status, 200);
  const forced = await api.post({
    headers: { "content-type": "Application/JSON; charset=utf-8" },
    body: JSON.stringify({ peer_id: PEER, override: true }),
  });
  assert.equal(forced.status, 200);
  assert.deepEqual(api.calls, [
    {
      port: 1080,
      peer: asPeerId(PEER),
      request: { by: "admin API from 127.0.0.1:40000", override: false },
    },
    {
      port: 1080,
      peer: asPeerId(PEER),
      request: { by: "admin API from 127.0.0.1:40000", override: true },
    },
  ]);
});

Deno.test("admin API: malformed selections get 400 naming the problem; selectExit is not called", async () => {
  const api = adminApi();
  const cases: [string, RegExp][] = [
    ["not json", /not JSON/],
    ["[]", /not a JSON object/],
    [JSON.stringify({ peer_id: PEER, overide: true }), /unknown key "overide"/],
    [JSON.stringify({ peer_id: PEER, override: "yes" }), /override must be true or false/],
    [JSON.stringify({ peer_id: 7 }), /peer_id must be a string/],
    [JSON.stringify({ peer_id: "12D3KooWnotapeer" }), /"12D3KooWnotapeer" is not a peer id/],
  ];
  for (const [body, error] of cases) {
    const answer = await api.post({ headers: JSON_TYPE, body });
    assert.equal(answer.status, 400, body);
    assert.match(String(answer.body.error), error, body);
  }
  const invalidUtf8 = await api.post({
    headers: JSON_TYPE,
    body: new Uint8Array([0x7b, 0xff, 0x7d]),
  });
  assert.equal(invalidUtf8.status, 400);
  assert.deepEqual(api.calls, []);
});

Deno.test("admin API: a declared oversize body is refused unread; a trickling one times out (408)", async () => {
  const api = adminApi(50);
  const declared = await api.post({
    headers: { ...JSON_TYPE, "content-length": "1000000" },
    body: "{}",
  });
  assert.equal(declared.status, 413);

  let cancelled = false;
  const trickle = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('{"peer_id": '));
    },
    cancel() {
      cancelled = true;
    },
  });
  const slow = await api.post({ headers: JSON_TYPE, body: trickle, duplex: "half" } as RequestInit);
  assert.equal(slow.status, 408);
  assert.match(String(slow.body.error), /within 50 ms/);
  assert.equal(cancelled, true, "the body stream is let go");
  assert.deepEqual(api.calls, []);
});
