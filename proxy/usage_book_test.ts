import assert from "node:assert/strict";
import type { ExitControl } from "../core/ports/exit_control.ts";
import type { HttpRouteHandler, HttpRoutes } from "../core/ports/http_routes.ts";
import { registerAdminRoutes, usageQueryOf } from "./admin_api.ts";
import { MAX_USAGE_ACCOUNTS, OTHER_ACCOUNTS, UsageBook, type UsageRecord } from "./usage_book.ts";

const HOUR_MS = 3_600_000;
const START = Date.UTC(2026, 11, 7, 22, 10);

Deno.test("usage: counted per account, country and hour; a closed hour goes to the hourly file", () => {
  let now = START;
  const closed: UsageRecord[][] = [];
  const book = new UsageBook(() => now, (records) => closed.push([...records]));
  const alice = book.account("alice", "NL");
  alice.sessionStarted();
  alice.moved(true, 100);
  alice.moved(false, 2_000);
  book.account("bob").failed();
  book.refused("bob");
  now += HOUR_MS;
  book.roll(); // the proxy rolls every second
  alice.moved(true, 5); // a running session goes on counting, into the new hour
  assert.deepEqual(closed, [[
    {
      hour: "2026-12-07T22:00:00.000Z",
      account: "alice",
      country: "NL",
      bytes_up: 100,
      bytes_down: 2_000,
      sessions: 1,
      errors: 0,
      refused: 0,
    },
    {
      hour: "2026-12-07T22:00:00.000Z",
      account: "bob",
      country: "",
      bytes_up: 0,
      bytes_down: 0,
      sessions: 0,
      errors: 1,
      refused: 1,
    },
  ]]);
  const recent = book.records({ account: "alice", sinceMs: START + HOUR_MS });
  assert.deepEqual(recent.map((r) => [r.hour, r.bytes_up]), [["2026-12-07T23:00:00.000Z", 5]]);
  assert.equal(book.records({ account: "alice" }).length, 2);
});

Deno.test("usage: deltas for the metrics report each change once", () => {
  const book = new UsageBook(() => START);
  book.account("alice").moved(true, 10);
  assert.deepEqual(book.takeDeltas().map((d) => [d.account, d.bytes_up]), [["alice", 10]]);
  assert.deepEqual(book.takeDeltas(), []);
  book.account("alice").moved(true, 3);
  assert.deepEqual(book.takeDeltas().map((d) => d.bytes_up), [3]);
});

Deno.test("usage: accounts past the bound are summed under (other)", () => {
  const book = new UsageBook(() => START);
  for (let i = 0; i < MAX_USAGE_ACCOUNTS + 5; i++) book.account(`user${i}`).moved(true, 1);
  const records = book.records();
  assert.equal(records.length, MAX_USAGE_ACCOUNTS + 1);
  assert.equal(records.find((r) => r.account === OTHER_ACCOUNTS)?.bytes_up, 5);
});

Deno.test("usage API: GET /v1/usage needs the token, filters by account and since, refuses a bad since", async () => {
  const routes: { method: string; pattern: RegExp; handler: HttpRouteHandler }[] = [];
  const http: HttpRoutes = {
    route: (method, pattern, handler) => void routes.push({ method, pattern, handler }),
    baseUrl: () => "http://127.0.0.1:9091",
  };
  const book = new UsageBook(() => START);
  book.account("alice").moved(true, 42);
  book.account("bob").moved(false, 7);
  const token = "0123456789abcdef0123";
  registerAdminRoutes(http, { control: {} as ExitControl, token, usage: book });
  const get = async (path: string, auth = true) => {
    const route = routes.find((r) =>
      r.method === "GET" && r.pattern.test(new URL(path, "http://x").pathname)
    )!;
    const request = new Request(`http://127.0.0.1:9091${path}`, {
      headers: auth ? { authorization: `Bearer ${token}` } : {},
    });
    const response = await route.handler(request, /x/.exec("x")!, { remoteAddress: "127.0.0.1:1" });
    return { status: response.status, body: await response.json() };
  };
  assert.equal((await get("/v1/usage", false)).status, 401);
  const alice = await get("/v1/usage?account=alice&since=2026-12-07T00:00:00Z");
  assert.equal(alice.status, 200);
  assert.deepEqual(alice.body.records.map((r: UsageRecord) => [r.account, r.bytes_up]), [[
    "alice",
    42,
  ]]);
  const later = await get(`/v1/usage?since=${START + 2 * HOUR_MS}`);
  assert.deepEqual(later.body.records, []);
  const bad = await get("/v1/usage?since=yesterday");
  assert.equal(bad.status, 400);
  assert.match(bad.body.error, /"yesterday"/);
  assert.equal(typeof usageQueryOf(new URLSearchParams({ account: "x".repeat(300) })), "string");
});
