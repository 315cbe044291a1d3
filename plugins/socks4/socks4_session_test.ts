import assert from "node:assert/strict";
import { encodeSocks4Request, SOCKS4_REPLY } from "../../core/codec/socks4.ts";
import type { ClientConnection } from "../../core/ports/inbound.ts";
import { inboundCompliance } from "../../core/testing/compliance/inbound.ts";
import { authenticateUserId, plugin, SOCKS4_INBOUND } from "./mod.ts";

async function socks4Connect(
  conn: ClientConnection,
  target: { readonly host: string; readonly port: number },
): Promise<boolean> {
  await conn.write(encodeSocks4Request(target.host, target.port, "anyone-session-s1"));
  const reply = new Uint8Array(8);
  let got = 0;
  while (got < 8) {
    const n = await conn.read(reply.subarray(got));
    if (n === null) throw new Error("The door closed before its reply.");
    got += n;
  }
  assert.equal(reply[0], 0);
  return reply[1] === SOCKS4_REPLY.granted;
}

Deno.test("the SOCKS4 door passes the inbound compliance suite", (t) =>
  inboundCompliance(t, () => ({ protocol: SOCKS4_INBOUND, connect: socks4Connect })));

Deno.test("SOCKS4 user ids: read with the grammar; no password, so users need allow_anonymous", () => {
  const open = { users: [], allowAnonymous: false, usernameRouting: true };
  const routed = authenticateUserId(open, "x-country-de");
  assert.ok(routed.ok);
  assert.equal(routed.routing?.filters.country, "DE");
  assert.equal(authenticateUserId(open, "x-planet-mars").ok, false);
  const users = [{ username: "demo", password: "demo" }];
  const closed = { users, allowAnonymous: false, usernameRouting: true };
  assert.equal(authenticateUserId(closed, "demo-country-de").ok, false);
  assert.equal(authenticateUserId(closed, "").ok, false);
  const anonymous = authenticateUserId({ ...closed, allowAnonymous: true }, "demo-country-de");
  assert.ok(anonymous.ok);
  assert.equal(anonymous.account, undefined, "not authenticated: anonymous");
  assert.equal(anonymous.routing?.filters.country, "DE");
  const empty = { users: [{ username: "bot", password: "" }], allowAnonymous: false };
  assert.deepEqual(authenticateUserId({ ...empty, usernameRouting: true }, "bot"), {
    ok: true,
    account: "bot",
  });
});

Deno.test("the socks4 plugin provides its door as the inbound capability", async () => {
  const instance = await plugin.create(plugin.options.parse({}), {
    stateDir: ".",
    role: "proxy",
    get: () => assert.fail("socks4 requires nothing"),
    find: () => assert.fail("socks4 wants nothing"),
  });
  assert.equal(instance.provides.inbound, SOCKS4_INBOUND);
  assert.deepEqual(SOCKS4_INBOUND.firstBytes, [0x04]);
});
