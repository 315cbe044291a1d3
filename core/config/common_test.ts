import assert from "node:assert/strict";
import fc from "fast-check";
import { asMultiaddr } from "../ids.ts";
import {
  hasTcpPort,
  isLoopbackAddress,
  isUnspecifiedAddress,
  parseCountry,
  parseHubAddress,
  parseIpLiteral,
  parseListenAddress,
  parsePeerId,
  parsePinnedPeer,
  withTcpPort,
} from "./common.ts";
import { keysAt, sectionsAt } from "./_schema_walk.ts";
import { proxyConfigSchema } from "./proxy_config.ts";

const PEER = "12D3KooWS6M2cP13vSHoPXVYbmYvhFgZowNrwyy7VkvbEUgXiXGZ";
const RSA_PEER = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N";

Deno.test("parsePeerId: valid ids pass, anything else explains itself", () => {
  assert.deepEqual(parsePeerId(PEER), { ok: true, value: PEER });
  assert.deepEqual(parsePeerId(RSA_PEER), { ok: true, value: RSA_PEER });
  const bad = parsePeerId("12D3KooWtypo");
  assert.equal(bad.ok, false);
  assert.match(bad.ok ? "" : bad.message, /Invalid peer id "12D3KooWtypo"/);
});

Deno.test("parsePinnedPeer: ids, addresses and what is refused", () => {
  assert.deepEqual(parsePinnedPeer(PEER), { ok: true, value: { peerId: PEER } });
  assert.deepEqual(parsePinnedPeer(`/p2p/${PEER}`), { ok: true, value: { peerId: PEER } });
  const full = `/dns4/exit.example.com/tcp/4001/p2p/${PEER}`;
  assert.deepEqual(parsePinnedPeer(full), { ok: true, value: { peerId: PEER, address: full } });
  for (
    const text of [
      "",
      "/ip4/1.2.3.4/tcp/1",
      `/p2p/${PEER}/p2p-circuit`,
      "/ip4/1.2.3.4/tcp/1/p2p/nope",
      "nope",
    ]
  ) {
    assert.equal(parsePinnedPeer(text).ok, false, text);
  }
});

Deno.test("parsePinnedPeer and parseListenAddress never throw", () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.string(), fc.constantFrom("/", "/p2p/", "/ip4/", "/ip6/::/tcp/", "[::]:", ":1"))
        .chain(
          (prefix) => fc.string({ maxLength: 30 }).map((rest) => prefix + rest),
        ),
      (text) => {
        parsePinnedPeer(text);
        parseListenAddress(text);
        parseHubAddress(text);
      },
    ),
  );
});

Deno.test("parseHubAddress: needs an address and a /p2p/ id", () => {
  const hub = `/ip4/203.0.113.7/tcp/4001/p2p/${PEER}`;
  assert.deepEqual(parseHubAddress(hub), { ok: true, value: hub });
  assert.equal(parseHubAddress(`/p2p/${PEER}`).ok, false);
  assert.equal(parseHubAddress("/ip4/203.0.113.7/tcp/4001").ok, false);
});

Deno.test("parseListenAddress: multiaddrs and the anchor's host:port form", () => {
  assert.deepEqual(parseListenAddress("/ip4/0.0.0.0/tcp/1"), {
    ok: true,
    value: "/ip4/0.0.0.0/tcp/1",
  });
  assert.deepEqual(parseListenAddress("0.0.0.0:45445"), {
    ok: true,
    value: "/ip4/0.0.0.0/tcp/45445",
  });
  assert.deepEqual(parseListenAddress("[::]:45445"), { ok: true, value: "/ip6/::/tcp/45445" });
  assert.equal(parseListenAddress("0.0.0.0:99999").ok, false);
  assert.equal(parseListenAddress("example.com:1").ok, false);
});

Deno.test("withTcpPort: moves every TCP port, leaves other transports", () => {
  const addresses = ["/ip4/0.0.0.0/tcp/0", "/ip6/::/tcp/0/ws", "/ip4/0.0.0.0/udp/1/quic-v1"].map(
    asMultiaddr,
  );
  assert.deepEqual(withTcpPort(addresses, 4001), [
    "/ip4/0.0.0.0/tcp/4001",
    "/ip6/::/tcp/4001/ws",
    "/ip4/0.0.0.0/udp/1/quic-v1",
  ]);
  assert.deepEqual(withTcpPort(addresses, undefined), addresses);
  assert.equal(hasTcpPort("/ip4/0.0.0.0/udp/1/quic-v1"), false);
});

Deno.test("parseIpLiteral and address classes", () => {
  assert.deepEqual(parseIpLiteral("127.0.0.1"), { ok: true, value: "127.0.0.1" });
  assert.deepEqual(parseIpLiteral("[::1]"), { ok: true, value: "::1" });
  assert.deepEqual(parseIpLiteral("0:0:0:0:0:0:0:1"), { ok: true, value: "::1" });
  for (const text of ["localhost", "127.1", "0x7f.0.0.1", "0177.0.0.1", "", "1.2.3.4.5"]) {
    assert.equal(parseIpLiteral(text).ok, false, text);
  }
  const localhost = parseIpLiteral("localhost");
  assert.match(localhost.ok ? "" : localhost.message, /for localhost write 127\.0\.0\.1/);
  for (const loopback of ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"]) {
    assert.ok(isLoopbackAddress(loopback), loopback);
  }
  for (const other of ["0.0.0.0", "::", "10.0.0.1", "203.0.113.1", "not an ip"]) {
    assert.ok(!isLoopbackAddress(other), other);
  }
  assert.ok(isUnspecifiedAddress("0.0.0.0") && isUnspecifiedAddress("::"));
  assert.ok(!isUnspecifiedAddress("127.0.0.1"));
});

Deno.test("parseCountry: codes and names to alpha-2; suggestions when unknown", () => {
  for (const text of ["NL", "nl", "NLD", "Netherlands"]) {
    assert.deepEqual(parseCountry(text), { ok: true, value: "NL" }, text);
  }
  const unknown = parseCountry("Germny");
  assert.equal(unknown.ok, false);
  assert.match(unknown.ok ? "" : unknown.message, /Did you mean "Germany"/);
});

Deno.test("schema walk: keys and sections at a path", () => {
  assert.ok(keysAt(proxyConfigSchema, []).includes("servers"));
  assert.ok(keysAt(proxyConfigSchema, ["servers", 0]).includes("min_bandwidth"));
  assert.deepEqual(keysAt(proxyConfigSchema, ["servers", 0, "pool"]), [
    "max_total",
    "open_timeout_secs",
  ]);
  assert.deepEqual(keysAt(proxyConfigSchema, ["nope"]), []);
  const servers = sectionsAt(proxyConfigSchema, []).find((section) => section.name === "servers");
  assert.equal(servers?.list, true);
  assert.ok(servers?.keys.includes("country"));
});
