import assert from "node:assert/strict";
import fc from "fast-check";
import { P2proxyError } from "../errors.ts";
import {
  BandwidthError,
  type BandwidthErrorCode,
  formatBandwidth,
  MAX_BANDWIDTH_BPS,
  parseBandwidth,
} from "./bandwidth.ts";

function assertBandwidthError(input: string, code: BandwidthErrorCode): BandwidthError {
  try {
    parseBandwidth(input);
  } catch (error) {
    assert.ok(error instanceof BandwidthError, `expected a BandwidthError, got ${error}`);
    assert.ok(error instanceof P2proxyError);
    assert.equal(error.code, code, `code for ${JSON.stringify(input)}: ${error.message}`);
    assert.equal(error.input, input);
    return error;
  }
  assert.fail(`parseBandwidth(${JSON.stringify(input)}) did not throw`);
}

Deno.test("parseBandwidth", async (t) => {
  await t.step("reads each unit as decimal SI bits per second", () => {
    assert.equal(parseBandwidth("7bps"), 7);
    assert.equal(parseBandwidth("7Kbps"), 7_000);
    assert.equal(parseBandwidth("7Mbps"), 7_000_000);
    assert.equal(parseBandwidth("7Gbps"), 7_000_000_000);
    assert.equal(parseBandwidth("7Tbps"), 7_000_000_000_000);
  });

  await t.step("ignores the case of the unit", () => {
    for (const unit of ["mbps", "MBPS", "Mbps", "mBpS"]) {
      // mBpS has a lower-case letter after the B, so it is not the byte spelling.
      assert.equal(parseBandwidth(`50${unit}`), 50_000_000, unit);
    }
  });

  await t.step("accepts the /s spellings", () => {
    const cases: [string, number][] = [
      ["3bit/s", 3],
      ["3b/s", 3],
      ["3bits/s", 3],
      ["3kbit/s", 3_000],
      ["3kb/s", 3_000],
      ["3Kbit/s", 3_000],
      ["3Mbit/s", 3_000_000],
      ["3Mb/s", 3_000_000],
      ["3Gb/s", 3_000_000_000],
      ["3Gbit/s", 3_000_000_000],
      ["3Tbit/s", 3_000_000_000_000],
    ];
    for (const [input, expected] of cases) assert.equal(parseBandwidth(input), expected, input);
  });

  await t.step("allows whitespace around the value and between number and unit", () => {
    assert.equal(parseBandwidth("  50 Mbps\t"), 50_000_000);
    assert.equal(parseBandwidth("50   Mb/s"), 50_000_000);
  });

  await t.step("sums several spans, with or without spaces between them", () => {
    assert.equal(parseBandwidth("1Gbps 500Mbps"), 1_500_000_000);
    assert.equal(parseBandwidth("1Gbps500Mbps"), 1_500_000_000);
    assert.equal(parseBandwidth("1 Gbps  500 Mbps 3 bps"), 1_500_000_003);
  });

  await t.step("reads decimal fractions exactly", () => {
    assert.equal(parseBandwidth("1.5Gbps"), 1_500_000_000);
    assert.equal(parseBandwidth("1.1Gbps"), 1_100_000_000);
    assert.equal(parseBandwidth(".25Mbps"), 250_000);
    assert.equal(parseBandwidth("0.3Kbps"), 300);
    assert.equal(parseBandwidth("1.234567891Gbps"), 1_234_567_891);
  });

  await t.step("rounds to the nearest bit, halves up", () => {
    assert.equal(parseBandwidth("0.4bps"), 0);
    assert.equal(parseBandwidth("0.5bps"), 1);
    assert.equal(parseBandwidth("1.0004Kbps"), 1_000);
    assert.equal(parseBandwidth("1.0005Kbps"), 1_001);
  });

  await t.step("accepts zero and the maximum", () => {
    assert.equal(parseBandwidth("0bps"), 0);
    assert.equal(parseBandwidth("0Gbps"), 0);
    assert.equal(parseBandwidth("1000Tbps"), MAX_BANDWIDTH_BPS);
  });

  await t.step("rejects empty input", () => {
    assertBandwidthError("", "empty");
    assertBandwidthError("   ", "empty");
  });

  await t.step("rejects a bare number with a hint to add a unit", () => {
    const error = assertBandwidthError("50", "bare-number");
    assert.match(error.message, /add a unit, e\.g\. 50Mbps/);
    assertBandwidthError("1Gbps 500", "bare-number");
    assertBandwidthError("0", "bare-number");
  });

  await t.step("rejects unknown units and names the accepted ones", () => {
    const error = assertBandwidthError("50Mbs", "unknown-unit");
    assert.match(error.message, /"Mbs"/);
    assert.match(error.message, /Mbps/);
    assertBandwidthError("50 furlongs", "unknown-unit");
    assertBandwidthError("1Pbps", "unknown-unit");
    assertBandwidthError("1Mibps", "unknown-unit");
    assertBandwidthError("1e9bps", "unknown-unit");
  });

  await t.step("refuses the mixed-case byte spellings instead of guessing", () => {
    for (const input of ["50MB/s", "50MBps", "5kB/s", "1GBps", "8Bps"]) {
      const error = assertBandwidthError(input, "unknown-unit");
      assert.match(error.message, /bytes/, input);
    }
  });

  await t.step("rejects garbage, NaN and infinity as malformed", () => {
    for (const input of ["abc", "NaN", "Infinity", "Mbps", "5.Gbps", "1.5.5Gbps", "1Gbps, 2Mbps"]) {
      assertBandwidthError(input, "malformed");
    }
  });

  await t.step("rejects negative values and values above 1 Pbps", () => {
    assertBandwidthError("-5Mbps", "out-of-range");
    assertBandwidthError("1Gbps -5Mbps", "out-of-range");
    assertBandwidthError("1000.000001Tbps", "out-of-range");
    assertBandwidthError("999Tbps 2Tbps", "out-of-range");
    assertBandwidthError(`${"9".repeat(200)}Tbps`, "out-of-range");
  });

  await t.step("rejects absurdly long input without parsing it", () => {
    assertBandwidthError(`${"1bps ".repeat(100)}`, "malformed");
  });
});

Deno.test("formatBandwidth", async (t) => {
  await t.step("uses the largest unit with a whole part of at least 1", () => {
    assert.equal(formatBandwidth(0), "0bps");
    assert.equal(formatBandwidth(999), "999bps");
    assert.equal(formatBandwidth(1_000), "1Kbps");
    assert.equal(formatBandwidth(50_000_000), "50Mbps");
    assert.equal(formatBandwidth(1_500_000_000), "1.5Gbps");
    assert.equal(formatBandwidth(1_234_567_891), "1.234567891Gbps");
    assert.equal(formatBandwidth(MAX_BANDWIDTH_BPS), "1000Tbps");
  });

  await t.step("rounds fractions of a bit", () => {
    assert.equal(formatBandwidth(1_499.6), "1.5Kbps");
  });

  await t.step("rejects values outside 0…1 Pbps", () => {
    for (const bps of [-1, Number.NaN, Number.POSITIVE_INFINITY, MAX_BANDWIDTH_BPS + 1]) {
      assert.throws(
        () => formatBandwidth(bps),
        (e: unknown) => e instanceof BandwidthError && e.code === "out-of-range",
      );
    }
  });
});

/** Whole bit rates, biased towards the round numbers people write. */
const bitRates = fc.oneof(
  fc.integer({ min: 0, max: MAX_BANDWIDTH_BPS }),
  fc.tuple(fc.integer({ min: 0, max: 999 }), fc.integer({ min: 0, max: 12 })).map(
    ([n, exponent]) => n * 10 ** exponent,
  ),
);

const UNIT_SPELLINGS = [
  ["bps", 0],
  ["Kbps", 3],
  ["Mbps", 6],
  ["Gbps", 9],
  ["Tbps", 12],
  ["kbit/s", 3],
  ["Mbit/s", 6],
  ["Mb/s", 6],
  ["kb/s", 3],
  ["Gb/s", 9],
  ["bit/s", 0],
  ["GBIT/S", 9],
] as const;

/** One valid span as text, e.g. `12.5 Mbps`. */
const spanText = fc.record({
  whole: fc.integer({ min: 0, max: 999 }),
  fraction: fc.option(fc.stringMatching(/^\d{1,4}$/), { nil: undefined }),
  space: fc.constantFrom("", " ", "  "),
  unit: fc.constantFrom(...UNIT_SPELLINGS.map(([name]) => name)),
}).map(({ whole, fraction, space, unit }) =>
  `${whole}${fraction === undefined ? "" : `.${fraction}`}${space}${unit}`
);

Deno.test("bandwidth properties", async (t) => {
  await t.step("parse(format(bps)) is bps", () => {
    fc.assert(fc.property(bitRates, (bps) => parseBandwidth(formatBandwidth(bps)) === bps));
  });

  await t.step("a whole-number span is its number times its unit", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 999 }),
        fc.constantFrom(...UNIT_SPELLINGS),
        (n, [unit, exponent]) => parseBandwidth(`${n}${unit}`) === n * 10 ** exponent,
      ),
    );
  });

  await t.step("arbitrary strings never throw anything but BandwidthError", () => {
    const nearMisses = fc.array(
      fc.constantFrom(
        "1",
        "50",
        ".",
        "-",
        "+",
        " ",
        "M",
        "b",
        "B",
        "ps",
        "/s",
        "bit",
        "G",
        "e",
        "k",
      ),
      { maxLength: 12 },
    ).map((parts) => parts.join(""));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: "binary" }), nearMisses), (input) => {
        try {
          const bps = parseBandwidth(input);
          return Number.isSafeInteger(bps) && bps >= 0 && bps <= MAX_BANDWIDTH_BPS;
        } catch (error) {
          return error instanceof BandwidthError;
        }
      }),
    );
  });

  await t.step("several spans parse to the sum of each span", () => {
    fc.assert(
      fc.property(
        fc.array(spanText, { minLength: 1, maxLength: 5 }),
        fc.constantFrom("", " ", "\t "),
        (spans, separator) => {
          const sum = spans.reduce((total, span) => total + parseBandwidth(span), 0);
          const joined = spans.join(separator);
          if (sum > MAX_BANDWIDTH_BPS) assertBandwidthError(joined, "out-of-range");
          else assert.equal(parseBandwidth(joined), sum);
        },
      ),
    );
  });
});
