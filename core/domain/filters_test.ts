import assert from "node:assert/strict";
import fc from "fast-check";
import { P2proxyError } from "../errors.ts";
import {
  type ExitAttributes,
  type FlagPolicy,
  NO_FILTERS,
  type ServerFilters,
} from "./attributes.ts";
import {
  createFilterMatcher,
  describeFilters,
  FilterError,
  type FilterVerdict,
  MAX_ISP_PATTERN_CHARS,
  MAX_MATCHED_ISP_CHARS,
  validateFilters,
} from "./filters.ts";

const EXIT: ExitAttributes = {
  country: "NL",
  city: "Amsterdam",
  region: "North Holland",
  isp: "Hetzner Online GmbH",
  asn: 24940,
  bandwidthBps: 100_000_000,
  proxy: false,
  mobile: false,
  hosting: true,
};

function verdict(filters: Partial<ServerFilters>, attrs: ExitAttributes = EXIT): FilterVerdict {
  return createFilterMatcher({ ...NO_FILTERS, ...filters })(attrs);
}

function reasonsOf(result: FilterVerdict): string[] {
  return result.matches ? [] : result.reasons;
}

function assertMatches(filters: Partial<ServerFilters>, attrs: ExitAttributes = EXIT): void {
  assert.deepEqual(verdict(filters, attrs), { matches: true }, JSON.stringify(filters));
}

function assertRejects(
  filters: Partial<ServerFilters>,
  attrs: ExitAttributes,
  reasons: string[],
): void {
  assert.deepEqual(verdict(filters, attrs), { matches: false, reasons });
}

Deno.test("createFilterMatcher", async (t) => {
  await t.step("no filters match any exit", () => {
    assertMatches({});
    assertMatches({}, { bandwidthBps: 0, proxy: true, mobile: true, hosting: true });
  });

  await t.step("min bandwidth is a floor, inclusive", () => {
    assertMatches({ minBandwidthBps: 100_000_000 });
    assertMatches({ minBandwidthBps: 50_000_000 });
    assertRejects({ minBandwidthBps: 100_000_001 }, EXIT, [
      "bandwidth 100Mbps is below the 100.000001Mbps floor",
    ]);
    assertRejects({ minBandwidthBps: 50_000_000 }, { ...EXIT, bandwidthBps: Number.NaN }, [
      "bandwidth NaNbps is below the 50Mbps floor",
    ]);
  });

  await t.step("country compares alpha-2 case-insensitively", () => {
    assertMatches({ country: "NL" });
    assertMatches({ country: "nl" });
    assertMatches({ country: "NL" }, { ...EXIT, country: "nl" });
    assertRejects({ country: "NL" }, { ...EXIT, country: "DE" }, ['country "DE" is not "NL"']);
  });

  await t.step("a country filter fails an exit with no country", () => {
    assertRejects({ country: "NL" }, { ...EXIT, country: undefined }, [
      'country is unknown, "NL" required',
    ]);
  });

  await t.step("a bare city matches the exit's city, ignoring case and accents", () => {
    assertMatches({ city: "Amsterdam" });
    assertMatches({ city: "  aMSTERDAM " });
    assertMatches({ city: "Zurich" }, { ...EXIT, city: "Zürich" });
    assertRejects({ city: "Berlin" }, EXIT, ['city "Amsterdam" is not "Berlin"']);
    assertRejects({ city: "Berlin" }, { ...EXIT, city: undefined }, [
      'city is unknown, "Berlin" required',
    ]);
  });

  await t.step("'City; Region; Country' checks each non-empty part", () => {
    assertMatches({ city: "Amsterdam; North Holland; NL" });
    assertMatches({ city: "amsterdam;north holland;Netherlands" });
    assertMatches({ city: "; ; The Netherlands" });
    assertMatches({ city: "; North Holland" });
    assertMatches({ city: "Amsterdam; ; nld" });
    assertRejects({ city: "Amsterdam; Utrecht; DE" }, EXIT, [
      'region "North Holland" is not "Utrecht"',
      'country "NL" is not "DE"',
    ]);
    assertRejects({ city: "Amsterdam; North Holland" }, { ...EXIT, region: undefined }, [
      'region is unknown, "North Holland" required',
    ]);
  });

  await t.step("isp is a case-insensitive regex", () => {
    assertMatches({ isp: "hetzner" });
    assertMatches({ isp: "^HETZNER\\b" });
    assertMatches({ isp: "ovh|hetzner" });
    assertRejects({ isp: "^ovh" }, EXIT, ['isp "Hetzner Online GmbH" does not match /^ovh/i']);
    assertRejects({ isp: "ovh" }, { ...EXIT, isp: undefined }, ["isp is unknown, /ovh/i required"]);
  });

  await t.step("isp is tested against the first MAX_MATCHED_ISP_CHARS characters only", () => {
    const long = `${"x".repeat(MAX_MATCHED_ISP_CHARS)}hetzner`;
    assertMatches({ isp: "^x+" }, { ...EXIT, isp: long });
    assert.equal(verdict({ isp: "hetzner" }, { ...EXIT, isp: long }).matches, false);
    // The costliest kind of accepted pattern still finishes on a huge attribute.
    assert.equal(verdict({ isp: ".*.*x" }, { ...EXIT, isp: "a".repeat(100_000) }).matches, false);
  });

  await t.step("asn compares numbers", () => {
    assertMatches({ asn: 24940 });
    assertRejects({ asn: 16276 }, EXIT, ["asn 24940 is not 16276"]);
    assertRejects({ asn: 16276 }, { ...EXIT, asn: undefined }, [
      "asn is unknown, 16276 required",
    ]);
  });

  await t.step("flag policies: allow ignores, deny forbids, require demands", () => {
    for (const flag of ["proxy", "mobile", "hosting"] as const) {
      const withFlag = { ...EXIT, [flag]: true };
      const withoutFlag = { ...EXIT, [flag]: false };
      assertMatches({ [flag]: "allow" }, withFlag);
      assertMatches({ [flag]: "allow" }, withoutFlag);
      assertMatches({ [flag]: "deny" }, withoutFlag);
      assertRejects({ [flag]: "deny" }, withFlag, [`exit has the ${flag} flag, but ${flag}=deny`]);
      assertMatches({ [flag]: "require" }, withFlag);
      assertRejects({ [flag]: "require" }, withoutFlag, [
        `exit lacks the ${flag} flag, but ${flag}=require`,
      ]);
    }
  });

  await t.step("lists every failing filter, in a fixed order", () => {
    const filters: Partial<ServerFilters> = {
      minBandwidthBps: 1_000_000_000,
      country: "DE",
      city: "Berlin",
      isp: "ovh",
      asn: 16276,
      proxy: "require",
      mobile: "require",
      hosting: "deny",
    };
    assert.deepEqual(reasonsOf(verdict(filters)), [
      "bandwidth 100Mbps is below the 1Gbps floor",
      'country "NL" is not "DE"',
      'city "Amsterdam" is not "Berlin"',
      'isp "Hetzner Online GmbH" does not match /ovh/i',
      "asn 24940 is not 16276",
      "exit lacks the proxy flag, but proxy=require",
      "exit lacks the mobile flag, but mobile=require",
      "exit has the hosting flag, but hosting=deny",
    ]);
  });

  await t.step("quotes exit values safely and cuts long ones", () => {
    const [reason] = reasonsOf(
      verdict({ city: "Berlin" }, { ...EXIT, city: `a\n${"b".repeat(500)}` }),
    );
    assert.ok(reason !== undefined);
    assert.ok(!reason.includes("\n"));
    assert.ok(reason.length < 120, reason);
  });

  await t.step("throws FilterError invalid-regex for a bad isp pattern", () => {
    for (const isp of ["(", "[a-", "a**", "x".repeat(MAX_ISP_PATTERN_CHARS + 1), "(a+)+$"]) {
      assert.throws(
        () => createFilterMatcher({ ...NO_FILTERS, isp }),
        (e: unknown) =>
          e instanceof FilterError && e instanceof P2proxyError && e.code === "invalid-regex" &&
          e.problems.length === 1,
        isp,
      );
    }
  });

  await t.step("throws FilterError invalid-filter for other bad fields, listing them all", () => {
    assert.throws(
      () => createFilterMatcher({ ...NO_FILTERS, country: "Atlantis", asn: -1 }),
      (e: unknown) =>
        e instanceof FilterError && e.code === "invalid-filter" && e.problems.length === 2,
    );
  });
});

Deno.test("validateFilters", async (t) => {
  await t.step("finds nothing wrong with good filters", () => {
    assert.deepEqual(validateFilters(NO_FILTERS), []);
    assert.deepEqual(
      validateFilters({
        country: "NL",
        city: "Amsterdam; North Holland; Netherlands",
        isp: "hetzner|ovh",
        asn: 24940,
        minBandwidthBps: 50_000_000,
        proxy: "deny",
        mobile: "require",
        hosting: "allow",
      }),
      [],
    );
  });

  await t.step("reports an unknown country with a suggestion", () => {
    const [problem] = validateFilters({ ...NO_FILTERS, country: "Germny" });
    assert.match(
      problem ?? "",
      /^country "Germny" is not a known country: did you mean "Germany"\?$/,
    );
    assert.match(validateFilters({ ...NO_FILTERS, country: "Qqqqqq" })[0] ?? "", /alpha-2/);
  });

  await t.step("reports bad city filters", () => {
    assert.match(validateFilters({ ...NO_FILTERS, city: " " })[0] ?? "", /^city is empty/);
    assert.match(validateFilters({ ...NO_FILTERS, city: "a;b;c;d" })[0] ?? "", /more than 3 parts/);
    assert.match(validateFilters({ ...NO_FILTERS, city: " ; ;" })[0] ?? "", /names no city/);
    assert.match(validateFilters({ ...NO_FILTERS, city: "Paris;;Frnace" })[0] ?? "", /"France"/);
  });

  await t.step("reports bad isp patterns", () => {
    assert.match(validateFilters({ ...NO_FILTERS, isp: "" })[0] ?? "", /^isp is empty/);
    assert.match(validateFilters({ ...NO_FILTERS, isp: "(" })[0] ?? "", /not a valid regular/);
    assert.match(
      validateFilters({ ...NO_FILTERS, isp: "y".repeat(MAX_ISP_PATTERN_CHARS + 1) })[0] ?? "",
      /longer than 256/,
    );
  });

  await t.step("refuses patterns that can backtrack catastrophically", () => {
    const patterns = [
      "(a+)+$",
      "(a|a)*b",
      "(.*)*x",
      "(?:a*b?)+",
      "((ab|c)d)+",
      "(\\w+\\s?){2,}$",
      ".*.*.*x",
      "a{1,8}a{1,8}a{1,8}a{1,8}a{1,8}x",
      `${"a?".repeat(20)}${"a".repeat(20)}`,
      `${"(a|a)".repeat(20)}x`,
    ];
    for (const isp of patterns) {
      const problems = validateFilters({ ...NO_FILTERS, isp });
      assert.equal(problems.length, 1, isp);
      assert.match(problems[0] ?? "", /exponential time|bounded time/, isp);
    }
  });

  await t.step("accepts the patterns people write for ISPs", () => {
    const patterns = [
      "hetzner|ovh|digital ?ocean",
      "^(?:hetzner|ovh)\\b",
      "AS\\d{3,5}",
      "[(]x[)]+",
      "(ab)+",
      "(?<name>foo)+",
      "\\(a+\\)+",
      "[a+]+(b)?",
      ".*cloud.*",
      ".*?x.*?y",
      "(a+)?b",
      "a{1,999}b{2}",
    ];
    for (const isp of patterns) assert.deepEqual(validateFilters({ ...NO_FILTERS, isp }), [], isp);
  });

  await t.step("reports bad numbers and policies from the wire", () => {
    const problems = validateFilters({
      ...NO_FILTERS,
      asn: 1.5,
      minBandwidthBps: -1,
      proxy: "sometimes" as FlagPolicy,
    });
    assert.equal(problems.length, 3);
    assert.match(problems[0] ?? "", /^min_bandwidth -1/);
    assert.match(problems[1] ?? "", /^asn 1\.5/);
    assert.match(problems[2] ?? "", /^proxy "sometimes" is not a policy/);
    assert.equal(validateFilters({ ...NO_FILTERS, minBandwidthBps: 2e15 }).length, 1);
    assert.equal(validateFilters({ ...NO_FILTERS, asn: 2 ** 32 }).length, 1);
  });
});

Deno.test("describeFilters", async (t) => {
  await t.step("says 'no filters' when nothing restricts", () => {
    assert.equal(describeFilters(NO_FILTERS), "no filters");
  });

  await t.step("lists restricting filters in config terms", () => {
    assert.equal(
      describeFilters({
        ...NO_FILTERS,
        country: "NL",
        minBandwidthBps: 50_000_000,
        hosting: "deny",
      }),
      "country=NL min_bandwidth=50Mbps hosting=deny",
    );
    assert.equal(
      describeFilters({
        country: "DE",
        city: "Frankfurt am Main",
        isp: "hetzner",
        asn: 24940,
        minBandwidthBps: 1_500_000_000,
        proxy: "deny",
        mobile: "require",
        hosting: "allow",
      }),
      'country=DE city="Frankfurt am Main" isp=/hetzner/i asn=24940 min_bandwidth=1.5Gbps ' +
        "proxy=deny mobile=require",
    );
  });
});

// --- properties -------------------------------------------------------------

const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });

/** Attributes drawn from small pools so that filters often match. */
const attributes: fc.Arbitrary<ExitAttributes> = fc.record({
  country: maybe(fc.constantFrom("NL", "DE", "US", "nl")),
  city: maybe(fc.constantFrom("Amsterdam", "Berlin", "Zürich", "New York")),
  region: maybe(fc.constantFrom("North Holland", "Berlin", "NY")),
  isp: maybe(fc.constantFrom("Hetzner Online GmbH", "OVH SAS", "DigitalOcean, LLC")),
  asn: maybe(fc.constantFrom(24940, 16276, 14061)),
  bandwidthBps: fc.constantFrom(0, 10_000_000, 50_000_000, 1_000_000_000),
  proxy: fc.boolean(),
  mobile: fc.boolean(),
  hosting: fc.boolean(),
});

/** Anything an exit might send, including values no honest exit would. */
const wildAttributes: fc.Arbitrary<ExitAttributes> = fc.record({
  country: maybe(fc.string()),
  city: maybe(fc.string()),
  region: maybe(fc.string()),
  isp: maybe(fc.string()),
  asn: maybe(fc.double()),
  bandwidthBps: fc.double(),
  proxy: fc.boolean(),
  mobile: fc.boolean(),
  hosting: fc.boolean(),
});

const policy = fc.constantFrom<FlagPolicy>("allow", "deny", "require");

/** Valid filters from the same pools as `attributes`. */
const filters: fc.Arbitrary<ServerFilters> = fc.record({
  country: maybe(fc.constantFrom("NL", "DE", "US")),
  city: maybe(
    fc.constantFrom("Amsterdam", "berlin", "Amsterdam; North Holland; NL", "; ; DE", "Zurich"),
  ),
  isp: maybe(fc.constantFrom("hetzner", "^ovh", "ocean|linode")),
  asn: maybe(fc.constantFrom(24940, 16276, 14061)),
  minBandwidthBps: fc.constantFrom(0, 10_000_000, 50_000_000, 1_000_000_000),
  proxy: policy,
  mobile: policy,
  hosting: policy,
});

/** `base` with everything `extra` adds: unset fields set, `allow` tightened, the floor raised. */
function tighten(base: ServerFilters, extra: ServerFilters): ServerFilters {
  return {
    country: base.country ?? extra.country,
    city: base.city ?? extra.city,
    isp: base.isp ?? extra.isp,
    asn: base.asn ?? extra.asn,
    minBandwidthBps: Math.max(base.minBandwidthBps, extra.minBandwidthBps),
    proxy: base.proxy === "allow" ? extra.proxy : base.proxy,
    mobile: base.mobile === "allow" ? extra.mobile : base.mobile,
    hosting: base.hosting === "allow" ? extra.hosting : base.hosting,
  };
}

Deno.test("filter properties", async (t) => {
  await t.step("NO_FILTERS matches every exit", () => {
    const match = createFilterMatcher(NO_FILTERS);
    fc.assert(fc.property(fc.oneof(attributes, wildAttributes), (attrs) => match(attrs).matches));
  });

  await t.step("adding a filter never turns a non-match into a match", () => {
    fc.assert(
      fc.property(filters, filters, attributes, (base, extra, attrs) => {
        const before = createFilterMatcher(base)(attrs);
        const after = createFilterMatcher(tighten(base, extra))(attrs);
        if (!before.matches) assert.equal(after.matches, false);
        assert.ok(reasonsOf(after).length >= reasonsOf(before).length);
      }),
    );
  });

  await t.step("deny and require are exact complements for each flag", () => {
    fc.assert(
      fc.property(
        filters,
        attributes,
        fc.constantFrom("proxy", "mobile", "hosting"),
        (base, attrs, flag) => {
          const allowed = createFilterMatcher({ ...base, [flag]: "allow" })(attrs);
          const denied = createFilterMatcher({ ...base, [flag]: "deny" })(attrs);
          const required = createFilterMatcher({ ...base, [flag]: "require" })(attrs);
          const flagReasons = (v: FilterVerdict) =>
            reasonsOf(v).filter((r) => r.includes(`${flag}=`));
          assert.equal(flagReasons(allowed).length, 0);
          assert.equal(flagReasons(denied).length + flagReasons(required).length, 1);
          if (allowed.matches) assert.equal(denied.matches, !required.matches);
          else assert.ok(!denied.matches && !required.matches);
        },
      ),
    );
  });

  await t.step("a verdict matches exactly when it gives no reason, and never throws", () => {
    fc.assert(
      fc.property(filters, fc.oneof(attributes, wildAttributes), (f, attrs) => {
        const result = createFilterMatcher(f)(attrs);
        return result.matches || result.reasons.length > 0;
      }),
    );
  });

  await t.step("validateFilters never throws and agrees with createFilterMatcher", () => {
    const wildFilters = fc.record({
      country: maybe(fc.string()),
      city: maybe(fc.string()),
      isp: maybe(fc.string()),
      asn: maybe(fc.double()),
      minBandwidthBps: fc.double(),
      proxy: fc.constantFrom("allow", "deny", "require", "maybe") as fc.Arbitrary<FlagPolicy>,
      mobile: policy,
      hosting: policy,
    });
    fc.assert(
      fc.property(wildFilters, (f) => {
        const problems = validateFilters(f);
        try {
          createFilterMatcher(f);
          return problems.length === 0;
        } catch (error) {
          return error instanceof FilterError && problems.length > 0;
        }
      }),
    );
  });
});
