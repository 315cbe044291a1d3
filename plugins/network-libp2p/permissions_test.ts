import assert from "node:assert/strict";
import { networkPermissions } from "./mod.ts";

Deno.test("a wildcard listen address needs the interface list, and nothing wider", () => {
  for (const wildcard of ["/ip4/0.0.0.0/tcp/0", "/ip6/::/tcp/4001"]) {
    assert.deepEqual(networkPermissions(["/ip4/127.0.0.1/tcp/1", wildcard]).sys, [
      "networkInterfaces",
    ], wildcard);
  }
});

Deno.test("specific and relay listen addresses, or none, need no sys permission", () => {
  for (
    const listen of [
      [],
      ["/ip4/127.0.0.1/tcp/0", "/ip6/::1/tcp/0"],
      ["/ip4/192.0.2.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit"],
    ]
  ) {
    assert.equal(networkPermissions(listen).sys, undefined, listen.join(" "));
  }
});
