/**
 * The admin routes driven directly (the HTTP guards and the refusals over a
 * real proxy are in tests/admin_api_test.ts): what reaches the exit control,
 * the bodies that never do, the /v1 shapes, and the deprecated aliases.
 */
import assert from "node:assert/strict";
import { asPeerId, type PeerId } from "../core/ids.ts";
import type {
  AutomaticChoiceOutcome,
  ExitChoiceOutcome,
  ExitControl,
  ExitsReport,
  ListenerStatus,
} from "../core/ports/exit_control.ts";
import type { HttpRouteHandler, HttpRoutes } from "../core/ports/http_routes.ts";
import { aDirectAddress, aPeerId, someAttributes } from "../core/testing/builders.ts";
import { registerAdminRoutes } from "./admin_api.ts";

const PEER = aPeerId(1);
const OTHER = aPeerId(2);
const CLIENT = { remoteAddress: "127.0.0.1:40000" };

/** One listener on 1080 whose exit the fake control changes as asked. */
class FakeControl implements ExitControl {
  readonly calls: { listener: string; peer?: PeerId; by: string; override?: boolean }[] = [];
  listener: ListenerStatus = {
    name: "socks5-1080",
    protocol: "socks5",
    bind: "127.0.0.1",
    port: 1080,
    exit: { peerId: OTHER, source: { kind: "discovered" } },
  };
  choice: ExitChoiceOutcome["kind"] = "selected";
  searching = false;

  listeners(): ListenerStatus[] {
    return [this.listener];
  }

  exits(): Promise<ExitsReport> {
    return Promise.resolve({
      listeners: [this.listener],
      candidates: [{
        peerId: PEER,
        attributes: someAttributes({ country: "DE", city: "Berlin" }),
        routes: [aDirectAddress(PEER)],
        relayedOnly: false,
        offeredFor: ["socks5-1080"],
        usedBy: [],
      }],
      problems: [],
    });
  }

  choose(
    listener: string,
    peer: PeerId,
    request: { by: string; override?: boolean },
  ): Promise<ExitChoiceOutcome> {
    this.calls.push({ listener, peer, ...request });
    if (this.choice === "refused") {
      return Promise.resolve({
        kind: "refused",
        conflict: { rule: "hard-pin", message: "Port 1080 is hard-pinned." },
      });
    }
    if (this.choice !== "selected") {
      return Promise.resolve({ kind: this.choice } as ExitChoiceOutcome);
    }
    this.listener = { ...this.listener, exit: { peerId: peer, source: { kind: "manual" } } };
    return Promise.resolve({ kind: "selected", listener: this.listener });
  }

  automatic(listener: string, request: { by: string }): Promise<AutomaticChoiceOutcome> {
    this.calls.push({ listener, ...request });
    if (this.searching) return Promise.resolve({ kind: "searching", listener: this.listener });
    this.listener = { ...this.listener, exit: { peerId: OTHER, source: { kind: "sticky" } } };
    return Promise.resolve({ kind: "automatic", listener: this.listener });
  }
}

/** The routes as registered over a {@link FakeControl}, and a way to call them. */
function adminApi(bodyTimeoutMs?: number) {
  const routes: { method: string; pattern: RegExp; handler: HttpRouteHandler }[] = [];
  const http: HttpRoutes = {
    route: (method, pattern, handler) => void routes.push({ method, pattern, handler }),
    baseUrl: () => "http://127.0.0.1:9091",
  };
  const control = new FakeControl();
  registerAdminRoutes(http, {
    control,
    // The exit the fake chose by hand rides QUIC; the others libp2p streams.
    transportOf: (peer) => peer === PEER ? "quic" : "libp2p",
    ...(bodyTimeoutMs === undefined ? {} : { bodyTimeoutMs }),
  });
  const call = async (method: string, path: string, init: RequestInit = {}) => {
    const route = routes.find((r) => r.method === method && r.pattern.test(path));
    assert.ok(route, `${method} ${path}`);
    const request = new Request(`http://127.0.0.1:9091${path}`, { method, ...init });
    const response = await route.handler(request, route.pattern.exec(path)!, CLIENT);
    return {
      status: response.status,
      headers: response.headers,
      body: await response.json() as Record<string, unknown>,
    };
  };
  const post = (init: RequestInit & { path?: string }) =>
    call("POST", init.path ?? "/servers/1080/exit", init);
  return { call, post, control, calls: control.calls };
}

const JSON_TYPE = { "content-type": "application/json" };

Deno.test("admin API: a good body reaches the control with the override flag and who asked", async () => {
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
      listener: "socks5-1080",
      peer: asPeerId(PEER),
      by: "admin API from 127.0.0.1:40000",
      override: false,
    },
    {
      listener: "socks5-1080",
      peer: asPeerId(PEER),
      by: "admin API from 127.0.0.1:40000",
      override: true,
    },
  ]);
});

Deno.test("admin API: malformed selections get 400 naming the problem; the control is not called", async () => {
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

Deno.test("admin API /v1: listeners and exits in snake_case, with sources as the logs show them", async () => {
  const api = adminApi();
  const listeners = await api.call("GET", "/v1/listeners");
  assert.equal(listeners.status, 200);
  assert.deepEqual(listeners.body, {
    listeners: [{
      name: "socks5-1080",
      protocol: "socks5",
      bind: "127.0.0.1",
      port: 1080,
      exit: { peer_id: OTHER, source: "discovered", transport: "libp2p" },
    }],
  });
  const exits = await api.call("GET", "/v1/exits");
  assert.equal(exits.status, 200);
  const [candidate] = exits.body.candidates as Record<string, unknown>[];
  assert.equal(candidate?.peer_id, PEER);
  assert.deepEqual(candidate?.offered_for, ["socks5-1080"]);
  assert.deepEqual(candidate?.used_by, []);
  assert.equal((candidate?.attributes as Record<string, unknown>).city, "Berlin");
  assert.deepEqual(exits.body.problems, []);
});

Deno.test("admin API /v1: PUT chooses, DELETE returns to automatic (202 while searching)", async () => {
  const api = adminApi();
  const put = await api.call("PUT", "/v1/listeners/socks5-1080/exit", {
    headers: JSON_TYPE,
    body: JSON.stringify({ peer_id: PEER }),
  });
  assert.equal(put.status, 200);
  assert.deepEqual((put.body.listener as Record<string, unknown>).exit, {
    peer_id: PEER,
    source: "manual",
    transport: "quic",
  });
  const back = await api.call("DELETE", "/v1/listeners/1080/exit");
  assert.equal(back.status, 200);
  assert.deepEqual((back.body.listener as Record<string, unknown>).exit, {
    peer_id: OTHER,
    source: "sticky",
    transport: "libp2p",
  });
  api.control.searching = true;
  const searching = await api.call("DELETE", "/v1/listeners/socks5-1080/exit");
  assert.equal(searching.status, 202);
  assert.match(String(searching.body.message), /keeps looking/);
  const unknown = await api.call("DELETE", "/v1/listeners/http-8080/exit");
  assert.equal(unknown.status, 404);
  assert.match(String(unknown.body.error), /"http-8080".*socks5-1080/);
  assert.deepEqual(api.calls.map((c) => c.listener), ["socks5-1080", "1080", "socks5-1080"]);

  for (const [choice, status] of [["refused", 409], ["unreachable", 502]] as const) {
    api.control.choice = choice;
    const answer = await api.call("PUT", "/v1/listeners/socks5-1080/exit", {
      headers: JSON_TYPE,
      body: JSON.stringify({ peer_id: PEER }),
    });
    assert.equal(answer.status, status, choice);
  }
});

Deno.test("admin API: the /servers aliases answer as before, marked deprecated", async () => {
  const api = adminApi();
  const list = await api.call("GET", "/servers");
  assert.equal(list.status, 200);
  assert.deepEqual(list.body, [{
    port: 1080,
    peer_id: OTHER,
    source: "discovered",
    transport: "libp2p",
  }]);
  assert.equal(list.headers.get("deprecation"), "true");
  assert.equal(list.headers.get("link"), '</v1/listeners>; rel="successor-version"');
  const chosen = await api.post({ headers: JSON_TYPE, body: JSON.stringify({ peer_id: PEER }) });
  assert.deepEqual(chosen.body, { port: 1080, peer_id: PEER, source: "manual" });
  assert.match(chosen.headers.get("link") ?? "", /\/v1\/listeners\/socks5-1080\/exit/);
  api.control.choice = "unreachable";
  const failed = await api.post({ headers: JSON_TYPE, body: JSON.stringify({ peer_id: PEER }) });
  assert.equal(failed.status, 502);
  assert.match(String(failed.body.error), /port 1080 keeps its exit/);
  const unknownPort = await api.post({
    path: "/servers/1081/exit",
    headers: JSON_TYPE,
    body: JSON.stringify({ peer_id: PEER }),
  });
  assert.equal(unknownPort.status, 404);
});
