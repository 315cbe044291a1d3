import assert from "node:assert/strict";
import fc from "fast-check";
import { STICKY_SESSIONS_VERSION } from "../../core/ports/sticky_store.ts";
import { aPeerId } from "../../core/testing/builders.ts";
import {
  sampleSessions,
  stickySessionsArbitrary,
} from "../../core/testing/compliance/sticky_store.ts";
import { parseSessionsJson, parseSessionsValue } from "./sticky_sessions.ts";

Deno.test("parseSessionsValue round-trips arbitrary valid records (property)", () => {
  fc.assert(
    fc.property(stickySessionsArbitrary(), (record) => {
      const parsed = parseSessionsValue(JSON.parse(JSON.stringify(record)));
      assert.deepStrictEqual(parsed, { record, skipped: [] });
    }),
  );
});

Deno.test("parseSessionsJson never throws and returns a record that re-reads cleanly (property)", () => {
  const anything = fc.oneof(
    fc.string(),
    fc.string({ unit: "binary" }),
    fc.json(),
    fc.jsonValue().map((sessions) =>
      JSON.stringify({ version: STICKY_SESSIONS_VERSION, sessions })
    ),
    fc.dictionary(fc.string(), fc.jsonValue()).map((sessions) =>
      JSON.stringify({ version: STICKY_SESSIONS_VERSION, sessions })
    ),
  );
  fc.assert(
    fc.property(anything, (text) => {
      const parsed = parseSessionsJson(text);
      assert.equal(parsed.record.version, STICKY_SESSIONS_VERSION);
      const again = parseSessionsValue(JSON.parse(JSON.stringify(parsed.record)));
      assert.deepStrictEqual(again.record, parsed.record);
      assert.deepStrictEqual(again.skipped, []);
    }),
    { numRuns: 300 },
  );
});

Deno.test("parseSessionsJson sets aside what is not a sessions record, naming why", () => {
  for (
    const [text, reason] of [
      ["{nope", /not JSON/],
      ["[]", /a list, not an object/],
      ['{"version":2,"sessions":{}}', /version is 2/],
      ['{"version":1,"sessions":[]}', /"sessions" is a list/],
    ] as const
  ) {
    const parsed = parseSessionsJson(text);
    assert.deepStrictEqual(parsed.record, { version: STICKY_SESSIONS_VERSION, sessions: {} });
    assert.match(parsed.unusable ?? "", reason);
  }
});

Deno.test("parseSessionsValue skips bad sessions one by one and keeps the good ones", () => {
  const good = sampleSessions(1).sessions;
  const parsed = parseSessionsValue({
    version: 1,
    sessions: {
      ...good,
      "no-peer": { owner: null, idle_ms: 60_000, used_at: 1 },
      "zero-ttl": { peer_id: aPeerId(3), owner: null, idle_ms: 0, used_at: 1 },
      "long-ttl": { peer_id: aPeerId(3), owner: null, idle_ms: 1_441 * 60_000, used_at: 1 },
      "bad-owner": { peer_id: aPeerId(3), owner: 7, idle_ms: 60_000, used_at: 1 },
      "bad-time": { peer_id: aPeerId(3), owner: null, idle_ms: 60_000, used_at: -1 },
    },
  });
  assert.deepStrictEqual(parsed.record.sessions, good);
  assert.equal(parsed.skipped.length, 5);
  assert.match(parsed.skipped.join("\n"), /"no-peer": "peer_id" is not a peer id/);
  assert.match(parsed.skipped.join("\n"), /"zero-ttl": "idle_ms"/);
  assert.match(parsed.skipped.join("\n"), /"long-ttl": "idle_ms"/);
});
