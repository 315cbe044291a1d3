import assert from "node:assert/strict";
import { NO_FILTERS } from "./attributes.ts";
import { authenticateClient, selectionForClient } from "./client_auth.ts";

const users = [{ username: "demo", password: "pw" }];

Deno.test("client auth: a port with users checks the account part of the name", () => {
  const port = { users, allowAnonymous: false, usernameRouting: true };
  const ok = authenticateClient(port, { username: "demo-country-de", password: "pw" });
  assert.deepEqual(ok, {
    ok: true,
    account: "demo",
    routing: { account: "demo", filters: { country: "DE" } },
  });
  const wrong = authenticateClient(port, { username: "demo-country-de", password: "no" });
  assert.equal(wrong.ok, false);
  if (!wrong.ok) assert.equal(wrong.reason, "wrong");
  const missing = authenticateClient(port, undefined);
  assert.equal(missing.ok, false);
  if (!missing.ok) assert.equal(missing.reason, "missing");
  const grammar = authenticateClient(port, { username: "demo-planet-mars", password: "pw" });
  assert.equal(grammar.ok, false);
  if (!grammar.ok) {
    assert.equal(grammar.reason, "username-grammar");
    assert.match(grammar.message, /"planet" is unknown/);
    assert.doesNotMatch(grammar.message, /pw/);
  }
});

Deno.test("client auth: anonymous clients, ports without users, routing off", () => {
  const anonymous = { users, allowAnonymous: true, usernameRouting: true };
  assert.deepEqual(authenticateClient(anonymous, undefined), { ok: true });
  assert.equal(authenticateClient(anonymous, { username: "demo", password: "x" }).ok, false);
  const open = { users: [], allowAnonymous: false, usernameRouting: true };
  const routed = authenticateClient(open, { username: "any-session-s1", password: "" });
  assert.ok(routed.ok);
  assert.equal(routed.account, undefined, "an unchecked name is no account");
  assert.equal(routed.routing?.session?.id, "s1");
  const off = { users: [{ username: "a-country-de", password: "p" }], allowAnonymous: false };
  const literal = authenticateClient({ ...off, usernameRouting: false }, {
    username: "a-country-de",
    password: "p",
  });
  assert.deepEqual(literal, { ok: true, account: "a-country-de" });
});

Deno.test("client auth: a username's filters override the port's and keep the rest", () => {
  const port = { ...NO_FILTERS, country: "NL", minBandwidthBps: 5 };
  assert.equal(selectionForClient(port, undefined), undefined);
  const selection = selectionForClient(port, {
    account: "alice",
    filters: { country: "DE" },
    session: { id: "s1", ttlMinutes: 3 },
  });
  assert.deepEqual(selection, {
    filters: { ...NO_FILTERS, country: "DE", minBandwidthBps: 5 },
    owner: "alice",
    session: "alice/s1",
    idleMs: 180_000,
  });
});
