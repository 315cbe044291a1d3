import assert from "node:assert/strict";
import fc from "fast-check";
import {
  DEFAULT_SESSION_TTL_MINUTES,
  MAX_USERNAME_CHARS,
  parseUsername,
  USERNAME_KEYS,
} from "./username.ts";

Deno.test("username grammar: account, filters and a session", () => {
  assert.deepEqual(parseUsername("alice-country-de-session-s1-ttl-30"), {
    ok: true,
    value: {
      account: "alice",
      filters: { country: "DE" },
      session: { id: "s1", ttlMinutes: 30 },
    },
  });
  assert.deepEqual(parseUsername("bob-City-new_york-ASN-AS1136"), {
    ok: true,
    value: { account: "bob", filters: { city: "new york", asn: 1136 } },
  });
  assert.deepEqual(parseUsername("carol-session-abc"), {
    ok: true,
    value: {
      account: "carol",
      filters: {},
      session: { id: "abc", ttlMinutes: DEFAULT_SESSION_TTL_MINUTES },
    },
  });
  assert.deepEqual(parseUsername("dave"), { ok: true, value: { account: "dave", filters: {} } });
});

Deno.test("username grammar: each mistake names its key", async (t) => {
  const cases: [string, string, RegExp][] = [
    ["alice-colour-red", "colour", /"colour" is unknown; the keys are country, city/],
    ["alice-country-XX", "country", /"XX" is not an ISO 3166-1 alpha-2/],
    ["alice-country-deu", "country", /"deu"/],
    ["alice-country", "country", /has no value/],
    ["alice-country-", "country", /has no value/],
    ["alice-session-a.b", "session", /1 to 64 characters/],
    [`alice-session-${"a".repeat(65)}`, "session", /1 to 64/],
    ["alice-session-s-ttl-0", "ttl", /1 to 1440/],
    ["alice-session-s-ttl-1441", "ttl", /1 to 1440/],
    ["alice-ttl-5", "ttl", /without a session/],
    ["alice-asn-ASx", "asn", /not an AS number/],
    ["alice-asn-99999999999", "asn", /not an AS number/],
    ["alice-country-de-country-nl", "country", /twice/],
    ["-country-de", "account", /no account/],
    ["a".repeat(MAX_USERNAME_CHARS + 1), "username", /at most 255/],
  ];
  for (const [name, key, problem] of cases) {
    await t.step(name.slice(0, 40), () => {
      const parsed = parseUsername(name);
      assert.equal(parsed.ok, false);
      if (parsed.ok) return;
      assert.equal(parsed.key.toLowerCase(), key);
      assert.match(parsed.problem, problem);
    });
  }
});

Deno.test("username grammar: any text is read or refused with a reason, never thrown", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 300, unit: "binary" }), (name) => {
      const parsed = parseUsername(name);
      if (parsed.ok) {
        assert.ok(name.startsWith(parsed.value.account));
        assert.ok(!parsed.value.account.includes("-"));
      } else {
        assert.ok(parsed.problem.length > 0 && parsed.problem.length < 400);
      }
    }),
  );
});

Deno.test("username grammar: names built from the grammar read back to what built them", () => {
  const country = fc.constantFrom("de", "NL", "us", "Fr");
  const session = fc.stringMatching(/^[A-Za-z0-9_]{1,64}$/);
  fc.assert(
    fc.property(
      fc.stringMatching(/^[a-z0-9_.]{1,20}$/),
      fc.option(country),
      fc.option(session),
      fc.option(fc.integer({ min: 1, max: 1440 })),
      (account, c, s, ttl) => {
        let name = account;
        if (c !== null) name += `-country-${c}`;
        if (s !== null) name += `-session-${s}`;
        if (s !== null && ttl !== null) name += `-ttl-${ttl}`;
        const parsed = parseUsername(name);
        assert.ok(parsed.ok, name);
        assert.equal(parsed.value.account, account);
        assert.equal(parsed.value.filters.country, c?.toUpperCase());
        assert.equal(parsed.value.session?.id, s ?? undefined);
        if (s !== null) {
          assert.equal(parsed.value.session?.ttlMinutes, ttl ?? DEFAULT_SESSION_TTL_MINUTES);
        }
      },
    ),
  );
  assert.deepEqual([...USERNAME_KEYS], ["country", "city", "asn", "session", "ttl"]);
});
