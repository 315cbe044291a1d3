import assert from "node:assert/strict";
import fc from "fast-check";
import { STICKY_RECORD_VERSION } from "../../core/ports/sticky_store.ts";
import { aPeerId } from "../../core/testing/builders.ts";
import { sampleRecord, stickyRecordArbitrary } from "../../core/testing/compliance/sticky_store.ts";
import {
  isPortKey,
  parseServerRecord,
  parseStickyJson,
  parseStickyValue,
} from "./sticky_record.ts";

const PEER = aPeerId(1);
const OTHER = aPeerId(2);

Deno.test("parseStickyValue keeps a valid record as it is", () => {
  const record = sampleRecord(3);
  const parsed = parseStickyValue(JSON.parse(JSON.stringify(record)));
  assert.deepStrictEqual(parsed, { record, skipped: [] });
});

Deno.test("parseStickyValue round-trips arbitrary valid records (property)", () => {
  fc.assert(
    fc.property(stickyRecordArbitrary(), (record) => {
      const parsed = parseStickyValue(JSON.parse(JSON.stringify(record)));
      assert.deepStrictEqual(parsed.record, record);
      assert.deepStrictEqual(parsed.skipped, []);
      assert.equal(parsed.unusable, undefined);
    }),
  );
});

Deno.test("parseStickyJson never throws and always returns a record that re-reads cleanly (property)", () => {
  const anything = fc.oneof(
    fc.string(),
    fc.json(),
    fc.jsonValue().map((servers) => JSON.stringify({ version: STICKY_RECORD_VERSION, servers })),
  );
  fc.assert(
    fc.property(anything, (text) => {
      const parsed = parseStickyJson(text);
      assert.equal(parsed.record.version, STICKY_RECORD_VERSION);
      const again = parseStickyValue(JSON.parse(JSON.stringify(parsed.record)));
      assert.deepStrictEqual(again.record, parsed.record);
      assert.deepStrictEqual(again.skipped, []);
    }),
    { numRuns: 300 },
  );
});

Deno.test("parseStickyJson sets aside text that is not a sticky record", async (t) => {
  const cases: [string, RegExp][] = [
    ["{not json", /not JSON/],
    ["", /not JSON/],
    ["null", /null, not an object/],
    ["[]", /a list, not an object/],
    ['"servers"', /a string, not an object/],
    ['{"servers":{}}', /version is missing/],
    ['{"version":0,"servers":{}}', /version is 0/],
    ['{"version":99,"servers":{}}', /version is 99/],
    ['{"version":"1","servers":{}}', /version is "1"/],
    ['{"version":1,"servers":[]}', /"servers" is a list/],
    ['{"version":1}', /"servers" is missing/],
  ];
  for (const [text, reason] of cases) {
    await t.step(text || "(empty)", () => {
      const parsed = parseStickyJson(text);
      assert.deepStrictEqual(parsed.record, { version: STICKY_RECORD_VERSION, servers: {} });
      assert.match(parsed.unusable ?? "", reason);
    });
  }
});

Deno.test("parseStickyValue skips bad entries one by one and keeps the good ones", () => {
  const good = { peer_id: PEER, address: "/ip4/198.51.100.7/tcp/4001", updated_at: 5 };
  const parsed = parseStickyValue({
    version: 1,
    servers: {
      "1080": {
        fingerprint: "fp",
        peers: [
          good,
          { peer_id: "", address: null, updated_at: 1 },
          { peer_id: OTHER, address: "not-a-multiaddr", updated_at: 1 },
          { peer_id: OTHER, address: null, updated_at: -1 },
          { peer_id: OTHER, address: null, updated_at: "yesterday" },
          "a string",
          { ...good, updated_at: 6 },
          { peer_id: OTHER, updated_at: 7 },
        ],
      },
      "1081": { fingerprint: 42, peers: [] },
      "1082": { fingerprint: "fp" },
      "1083": null,
      "01084": { fingerprint: "fp", peers: [] },
      "70000": { fingerprint: "fp", peers: [] },
      "http": { fingerprint: "fp", peers: [] },
      "1085": { fingerprint: "kept", peers: [] },
    },
  });
  assert.deepStrictEqual(parsed.record.servers, {
    "1080": {
      fingerprint: "fp",
      peers: [good, { peer_id: OTHER, address: null, updated_at: 7 }],
    },
    "1085": { fingerprint: "kept", peers: [] },
  });
  assert.equal(parsed.skipped.length, 6 + 6);
  assert.ok(parsed.skipped.some((line) => line.includes("listed twice")));
});

Deno.test("parseServerRecord migrates the anchor's v1 single-peer entry", () => {
  const parsed = parseServerRecord(
    { peer_id: PEER, fingerprint: "v1|1080||50000000", updated_at: "2026-06-17T11:41:44.951690Z" },
    "server 1080",
  );
  assert.deepStrictEqual(parsed, {
    server: {
      fingerprint: "v1|1080||50000000",
      peers: [{ peer_id: PEER, address: null, updated_at: Date.parse("2026-06-17T11:41:44.951Z") }],
    },
    skipped: [],
  });
});

Deno.test("parseStickyValue reads the anchor's v2 pools with RFC 3339 times", () => {
  const parsed = parseStickyValue({
    version: 2,
    servers: {
      "1080": {
        fingerprint: "fp",
        peers: [{ peer_id: PEER, address: null, updated_at: "2026-01-02T03:04:05Z" }],
      },
    },
  });
  assert.equal(parsed.unusable, undefined);
  assert.deepStrictEqual(parsed.record, {
    version: STICKY_RECORD_VERSION,
    servers: {
      "1080": {
        fingerprint: "fp",
        peers: [{ peer_id: PEER, address: null, updated_at: Date.UTC(2026, 0, 2, 3, 4, 5) }],
      },
    },
  });
});

Deno.test("parseStickyValue bounds field sizes", () => {
  const parsed = parseStickyValue({
    version: 1,
    servers: {
      "1080": {
        fingerprint: "fp",
        peers: [
          { peer_id: "x".repeat(129), address: null, updated_at: 1 },
          { peer_id: PEER, address: `/dns4/${"a".repeat(1_100)}`, updated_at: 1 },
        ],
      },
      "1081": { fingerprint: "f".repeat(5_000), peers: [] },
    },
  });
  assert.deepStrictEqual(parsed.record.servers, { "1080": { fingerprint: "fp", peers: [] } });
  assert.equal(parsed.skipped.length, 3);
});

Deno.test("isPortKey accepts decimal ports only", () => {
  for (const key of ["1", "80", "1080", "65535"]) assert.equal(isPortKey(key), true, key);
  for (const key of ["0", "01080", "65536", "-1", "1e3", " 80", "80 ", "", "__proto__"]) {
    assert.equal(isPortKey(key), false, key);
  }
});
