import assert from "node:assert/strict";
import fc from "fast-check";
import { type FlagPolicy, NO_FILTERS, type ServerFilters } from "./attributes.ts";
import { selectionKey, serverFingerprint } from "./fingerprint.ts";

const FULL: ServerFilters = {
  country: "NL",
  city: "Amsterdam; North Holland; NL",
  isp: "hetzner|ovh",
  asn: 24940,
  minBandwidthBps: 50_000_000,
  proxy: "deny",
  mobile: "allow",
  hosting: "require",
};

Deno.test("serverFingerprint", async (t) => {
  await t.step("lists the version, the port and every filter in a fixed order", () => {
    assert.equal(
      serverFingerprint(1080, NO_FILTERS),
      "v1|port=1080|country|city|isp|asn|min_bandwidth_bps=0|proxy=allow|mobile=allow|hosting=allow",
    );
    assert.equal(
      serverFingerprint(1081, FULL),
      "v1|port=1081|country=NL|city=Amsterdam; North Holland; NL|isp=hetzner%7Covh|asn=24940|" +
        "min_bandwidth_bps=50000000|proxy=deny|mobile=allow|hosting=require",
    );
  });

  await t.step("changes when any single field changes", () => {
    const base = serverFingerprint(1080, FULL);
    assert.notEqual(serverFingerprint(1081, FULL), base);
    const changes: Partial<ServerFilters>[] = [
      { country: "DE" },
      { country: undefined },
      { city: "Amsterdam" },
      { isp: "hetzner" },
      { asn: 24941 },
      { asn: undefined },
      { minBandwidthBps: 50_000_001 },
      { proxy: "allow" },
      { mobile: "deny" },
      { hosting: "deny" },
    ];
    for (const change of changes) {
      assert.notEqual(
        serverFingerprint(1080, { ...FULL, ...change }),
        base,
        JSON.stringify(change),
      );
    }
  });

  await t.step("tells an unset filter from an empty one", () => {
    assert.notEqual(
      serverFingerprint(1080, { ...NO_FILTERS, city: "" }),
      serverFingerprint(1080, NO_FILTERS),
    );
  });

  await t.step("escapes separators so values cannot forge fields", () => {
    const forged = serverFingerprint(1080, { ...NO_FILTERS, country: "NL|city=Paris" });
    const honest = serverFingerprint(1080, { ...NO_FILTERS, country: "NL", city: "Paris" });
    assert.notEqual(forged, honest);
    assert.equal(forged.split("|").length, honest.split("|").length);
    assert.notEqual(
      serverFingerprint(1080, { ...NO_FILTERS, city: "a|b" }),
      serverFingerprint(1080, { ...NO_FILTERS, city: "a%7Cb" }),
    );
  });
});

/** Strings rich in the characters the encoding must handle. */
const tricky = fc.oneof(
  fc.string(),
  fc.string({ unit: fc.constantFrom("|", "%7C", "%25", "%", "=", "a", ";"), maxLength: 3 }),
);
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const policy = fc.constantFrom<FlagPolicy>("allow", "deny", "require");

const filters: fc.Arbitrary<ServerFilters> = fc.record({
  country: maybe(tricky),
  city: maybe(tricky),
  isp: maybe(tricky),
  asn: maybe(fc.integer({ min: 0, max: 4_294_967_295 })),
  minBandwidthBps: fc.oneof(fc.constantFrom(0, 50_000_000), fc.nat()),
  proxy: policy,
  mobile: policy,
  hosting: policy,
}, { requiredKeys: ["minBandwidthBps", "proxy", "mobile", "hosting"] });

const port = fc.integer({ min: 1, max: 65_535 });

/** The same filters, each key defined or absent alike, as a plain comparable object. */
function canonical(f: ServerFilters): Record<string, unknown> {
  return Object.fromEntries(Object.entries(f).filter(([, value]) => value !== undefined));
}

Deno.test("fingerprint properties", async (t) => {
  await t.step("deterministic", () => {
    fc.assert(fc.property(port, filters, (p, f) => {
      assert.equal(serverFingerprint(p, f), serverFingerprint(p, structuredClone(f)));
    }));
  });

  await t.step("injective: different port or filters give different fingerprints", () => {
    fc.assert(
      fc.property(port, filters, port, filters, (p1, f1, p2, f2) => {
        const same = p1 === p2 && JSON.stringify(sorted(canonical(f1))) ===
            JSON.stringify(sorted(canonical(f2)));
        assert.equal(serverFingerprint(p1, f1) === serverFingerprint(p2, f2), same);
      }),
      { numRuns: 500 },
    );
  });

  await t.step("injective: the fingerprint decodes back to its port and filters", () => {
    fc.assert(
      fc.property(port, filters, (p, f) => {
        assert.deepEqual(decodeFingerprint(serverFingerprint(p, f)), {
          port: String(p),
          ...fieldsAsText(f),
        });
      }),
      { numRuns: 300 },
    );
  });

  await t.step("injective on near misses: one field of one input changed", () => {
    fc.assert(
      fc.property(
        port,
        filters,
        filters,
        fc.constantFrom(
          "country",
          "city",
          "isp",
          "asn",
          "minBandwidthBps",
          "proxy",
          "mobile",
          "hosting",
        ),
        (p, f, other, key) => {
          const changed = { ...f, [key]: other[key] };
          const same =
            JSON.stringify(sorted(canonical(f))) === JSON.stringify(sorted(canonical(changed)));
          assert.equal(serverFingerprint(p, f) === serverFingerprint(p, changed), same);
        },
      ),
    );
  });

  await t.step("independent of the order the filter keys were written in", () => {
    fc.assert(
      fc.property(
        port,
        filters,
        fc.array(fc.double(), { minLength: 8, maxLength: 8 }),
        (p, f, keys) => {
          const entries = Object.entries(f);
          const shuffled = entries
            .map((entry, i) => ({ entry, order: keys[i] ?? 0 }))
            .sort((a, b) => a.order - b.order)
            .map(({ entry }) => entry);
          const reordered = Object.fromEntries(shuffled) as unknown as ServerFilters;
          assert.equal(serverFingerprint(p, reordered), serverFingerprint(p, f));
        },
      ),
    );
  });
});

function sorted(record: Record<string, unknown>): [string, unknown][] {
  return Object.entries(record).sort(([a], [b]) => a.localeCompare(b));
}

/**
 * A left inverse written from the documented format: fields split on `|`, a
 * bare key is unset, values unescape `%7C` and `%25`. If it recovers every
 * input, no two inputs can share a fingerprint.
 */
function decodeFingerprint(fingerprint: string): Record<string, string> {
  const [version, ...fields] = fingerprint.split("|");
  assert.equal(version, "v1");
  const decoded: Record<string, string> = {};
  for (const field of fields) {
    const equals = field.indexOf("=");
    if (equals === -1) continue;
    decoded[field.slice(0, equals)] = field.slice(equals + 1).replace(
      /%(25|7C)/g,
      (_, code: string) => (code === "25" ? "%" : "|"),
    );
  }
  return decoded;
}

const FIELD_KEYS: [keyof ServerFilters, string][] = [
  ["country", "country"],
  ["city", "city"],
  ["isp", "isp"],
  ["asn", "asn"],
  ["minBandwidthBps", "min_bandwidth_bps"],
  ["proxy", "proxy"],
  ["mobile", "mobile"],
  ["hosting", "hosting"],
];

function fieldsAsText(f: ServerFilters): Record<string, string> {
  return Object.fromEntries(
    FIELD_KEYS.filter(([key]) => f[key] !== undefined).map(([key, name]) => [name, String(f[key])]),
  );
}

Deno.test("selectionKey: distinct selections never share a key, equal ones always do", () => {
  const policy = fc.constantFrom<FlagPolicy>("allow", "deny", "require");
  const filters = fc.record({
    country: fc.option(fc.string(), { nil: undefined }),
    city: fc.option(fc.string(), { nil: undefined }),
    minBandwidthBps: fc.nat(),
    proxy: policy,
    mobile: policy,
    hosting: policy,
  });
  const selection = fc.record({
    filters,
    session: fc.option(fc.string(), { nil: undefined }),
  });
  fc.assert(
    fc.property(selection, selection, (a, b) => {
      const same = JSON.stringify(a) === JSON.stringify(b);
      assert.equal(selectionKey(a) === selectionKey(b), same);
    }),
  );
  assert.equal(
    selectionKey({ filters: { ...NO_FILTERS, country: "DE" }, session: "a|b" }),
    "v1|port=0|country=DE|city|isp|asn|min_bandwidth_bps=0|proxy=allow|mobile=allow|" +
      "hosting=allow|session=a%7Cb",
  );
  assert.notEqual(
    selectionKey({ filters: NO_FILTERS }),
    selectionKey({ filters: NO_FILTERS, session: "" }),
  );
});
