import assert from "node:assert/strict";
import fc from "fast-check";
import english from "i18n-iso-countries/langs/en.json" with { type: "json" };
import codes from "i18n-iso-countries/codes.json" with { type: "json" };
import { countryName, normalizeCountry, suggestCountries } from "./country.ts";

/** The package's own data, read directly, as the oracle for the properties. */
const ALPHA2_ALPHA3: [string, string][] = codes.map(([alpha2, alpha3]) => [
  alpha2 ?? "",
  alpha3 ?? "",
]);
const NAMES: [string, string][] = Object.entries(english.countries).flatMap(([alpha2, names]) =>
  (typeof names === "string" ? [names] : names).map((name): [string, string] => [name, alpha2])
);
const COUNTRIES_BY_LOWER_NAME = new Map<string, Set<string>>();
for (const [name, alpha2] of NAMES) {
  const key = name.toLowerCase();
  COUNTRIES_BY_LOWER_NAME.set(key, new Set([...(COUNTRIES_BY_LOWER_NAME.get(key) ?? []), alpha2]));
}
const isAmbiguous = (name: string) =>
  (COUNTRIES_BY_LOWER_NAME.get(name.toLowerCase())?.size ?? 0) > 1;

Deno.test("normalizeCountry", async (t) => {
  await t.step("accepts alpha-2 in any case", () => {
    assert.equal(normalizeCountry("NL"), "NL");
    assert.equal(normalizeCountry("nl"), "NL");
    assert.equal(normalizeCountry("De"), "DE");
  });

  await t.step("accepts alpha-3 in any case", () => {
    assert.equal(normalizeCountry("NLD"), "NL");
    assert.equal(normalizeCountry("deu"), "DE");
    assert.equal(normalizeCountry("gBr"), "GB");
  });

  await t.step("accepts English short and official names, case-insensitively", () => {
    const cases: [string, string][] = [
      ["Netherlands", "NL"],
      ["The Netherlands", "NL"],
      ["the netherlands", "NL"],
      ["United Kingdom", "GB"],
      ["UK", "GB"],
      ["United States of America", "US"],
      ["united states", "US"],
      ["Germany", "DE"],
      ["GERMANY", "DE"],
    ];
    for (const [input, alpha2] of cases) assert.equal(normalizeCountry(input), alpha2, input);
  });

  await t.step("trims and ignores accents, repeated spaces and curly apostrophes", () => {
    assert.equal(normalizeCountry("  Germany \n"), "DE");
    assert.equal(normalizeCountry("United   Kingdom"), "GB");
    assert.equal(normalizeCountry("Curacao"), "CW");
    assert.equal(normalizeCountry("cote d’ivoire"), "CI");
  });

  await t.step("accepts a leading 'the' the table does not list", () => {
    assert.equal(normalizeCountry("the Germany"), "DE");
  });

  await t.step("returns undefined for unknown input", () => {
    for (const input of ["", "  ", "Atlantis", "XX", "ZZZ", "N L", "NL!", "Germanyy", "1", "EU"]) {
      assert.equal(normalizeCountry(input), undefined, input);
    }
  });

  await t.step("returns undefined for a name two countries share", () => {
    assert.equal(normalizeCountry("Congo"), undefined);
    assert.equal(normalizeCountry("Republic of the Congo"), "CG");
    assert.equal(normalizeCountry("Democratic Republic of the Congo"), "CD");
  });

  await t.step("does not read inherited object keys as codes or names", () => {
    for (const input of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
      assert.equal(normalizeCountry(input), undefined, input);
    }
  });
});

Deno.test("countryName", async (t) => {
  await t.step("gives the official English name for an alpha-2 code in any case", () => {
    assert.equal(countryName("NL"), "Netherlands");
    assert.equal(countryName("de"), "Germany");
    assert.equal(countryName("US"), "United States of America");
  });

  await t.step("returns undefined for anything that is not an alpha-2 code", () => {
    for (const input of ["ZZ", "NLD", "Netherlands", "", "__proto__"]) {
      assert.equal(countryName(input), undefined, input);
    }
  });
});

Deno.test("suggestCountries", async (t) => {
  await t.step("offers names a typo away", () => {
    assert.deepEqual(suggestCountries("Germny"), ["Germany"]);
    assert.deepEqual(suggestCountries("Frnace"), ["France"]);
    assert.ok(suggestCountries("Untied Kingdom").includes("United Kingdom"));
  });

  await t.step("offers names that start with the input", () => {
    assert.ok(suggestCountries("Netherland").includes("Netherlands"));
    assert.ok(suggestCountries("United", 10).includes("United Kingdom"));
  });

  await t.step("offers every country an ambiguous name could mean", () => {
    const suggestions = suggestCountries("Congo");
    assert.ok(suggestions.includes("Republic of the Congo"), String(suggestions));
    assert.ok(suggestions.includes("Democratic Republic of the Congo"), String(suggestions));
  });

  await t.step("ranks exact hits first and respects max", () => {
    assert.equal(suggestCountries("Mali")[0], "Mali");
    assert.equal(suggestCountries("United", 2).length, 2);
    assert.deepEqual(suggestCountries("United", 0), []);
  });

  await t.step("offers nothing for nonsense or empty input", () => {
    assert.deepEqual(suggestCountries("Qwxzzyv"), []);
    assert.deepEqual(suggestCountries(""), []);
    assert.deepEqual(suggestCountries("x".repeat(10_000)), []);
  });
});

/** Random upper/lower case per character, with spaces around. */
function scrambleCase(text: string, mask: boolean[], padding: string): string {
  const chars = [...text].map((c, i) => (mask[i % Math.max(1, mask.length)] ? c.toUpperCase() : c));
  return `${padding}${chars.join("")}${padding}`;
}

Deno.test("country properties", async (t) => {
  await t.step("every alpha-2 and alpha-3 code maps to its alpha-2, in any case", () => {
    assert.equal(ALPHA2_ALPHA3.length, 249 + 1); // 249 ISO countries plus Kosovo (XK)
    fc.assert(
      fc.property(
        fc.constantFrom(...ALPHA2_ALPHA3),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 3 }),
        fc.constantFrom("", " ", "\t"),
        ([alpha2, alpha3], mask, padding) => {
          const lower2 = scrambleCase(alpha2.toLowerCase(), mask, padding);
          const lower3 = scrambleCase(alpha3.toLowerCase(), mask, padding);
          return normalizeCountry(lower2) === alpha2 && normalizeCountry(lower3) === alpha2;
        },
      ),
    );
    for (const [alpha2, alpha3] of ALPHA2_ALPHA3) {
      assert.equal(normalizeCountry(alpha2), alpha2);
      assert.equal(normalizeCountry(alpha3), alpha2);
    }
  });

  await t.step("every English name maps to its alpha-2 unless two countries share it", () => {
    for (const [name, alpha2] of NAMES) {
      const expected = isAmbiguous(name) ? undefined : alpha2;
      assert.equal(normalizeCountry(name), expected, name);
      assert.equal(normalizeCountry(name.toUpperCase()), expected, name);
    }
    fc.assert(
      fc.property(
        fc.constantFrom(...NAMES.filter(([name]) => !isAmbiguous(name))),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 7 }),
        fc.constantFrom("", " ", "  "),
        ([name, alpha2], mask, padding) =>
          normalizeCountry(scrambleCase(name.toLowerCase(), mask, padding)) === alpha2,
      ),
    );
  });

  await t.step("every country's official name comes back from its code", () => {
    for (const [alpha2] of ALPHA2_ALPHA3) {
      const name = countryName(alpha2);
      assert.ok(name !== undefined, alpha2);
      if (!isAmbiguous(name)) assert.equal(normalizeCountry(name), alpha2);
    }
  });

  await t.step("normalisation is idempotent", () => {
    const inputs = fc.oneof(
      fc.string(),
      fc.constantFrom(...NAMES.map(([name]) => name), ...ALPHA2_ALPHA3.flat()),
    );
    fc.assert(fc.property(inputs, (input) => {
      const once = normalizeCountry(input);
      return once === undefined || normalizeCountry(once) === once;
    }));
  });

  await t.step("arbitrary strings never throw", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: "binary" })), fc.nat(5), (input, max) => {
        normalizeCountry(input);
        countryName(input);
        const suggestions = suggestCountries(input, max);
        return suggestions.length <= max;
      }),
    );
  });
});
