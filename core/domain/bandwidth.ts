/**
 * Bandwidth values in config (`min_bandwidth: 50Mbps`): parsing to
 * bits per second and formatting back.
 *
 * Units are decimal SI bits (K = 1e3 … T = 1e12), case-insensitive. Several
 * `<number><unit>` spans are summed (`1Gbps 500Mbps`). Arithmetic is done on
 * the decimal digits with BigInt, so `1.1Gbps` is exactly 1 100 000 000 bps
 * and every formatted value parses back to itself.
 *
 * @module
 */
import { P2proxyError } from "../errors.ts";

/** Largest accepted bandwidth: 1 Pbps, far above any real link and well inside `Number.MAX_SAFE_INTEGER`. */
export const MAX_BANDWIDTH_BPS = 1e15;

/** Longest accepted input; bounds the BigInt work on hostile input. A real value is a few spans long. */
const MAX_BANDWIDTH_INPUT_CHARS = 256;

/** Why a bandwidth string was rejected. */
export type BandwidthErrorCode =
  | "empty"
  | "bare-number"
  | "unknown-unit"
  | "malformed"
  | "out-of-range";

/** A bandwidth string that cannot be turned into bits per second. */
export class BandwidthError extends P2proxyError<BandwidthErrorCode> {
  /** The rejected input, verbatim. */
  readonly input: string;

  /** `input` is the string as given; `message` says what is wrong and what to write instead. */
  constructor(code: BandwidthErrorCode, input: string, message: string) {
    super(code, message);
    this.input = input;
  }
}

/** Decimal SI prefixes, lower case, to their power of ten. */
const PREFIX_EXPONENTS: ReadonlyMap<string, number> = new Map([
  ["", 0],
  ["k", 3],
  ["m", 6],
  ["g", 9],
  ["t", 12],
]);

/** The spellings of "bits per second" after the prefix, lower case. */
const BIT_RATE_SUFFIXES = ["bps", "b/s", "bit/s", "bits/s"] as const;

/** Every accepted unit, lower case, to its power of ten. */
const UNIT_EXPONENTS: ReadonlyMap<string, number> = new Map(
  [...PREFIX_EXPONENTS].flatMap(([prefix, exponent]) =>
    BIT_RATE_SUFFIXES.map((suffix) => [prefix + suffix, exponent] as const)
  ),
);

/** Units used by `formatBandwidth`, largest first. */
interface FormatUnit {
  readonly name: string;
  readonly exponent: number;
}
const BPS_UNIT: FormatUnit = { name: "bps", exponent: 0 };
const FORMAT_UNITS: readonly FormatUnit[] = [
  { name: "Tbps", exponent: 12 },
  { name: "Gbps", exponent: 9 },
  { name: "Mbps", exponent: 6 },
  { name: "Kbps", exponent: 3 },
  BPS_UNIT,
];

const ACCEPTED_UNITS_HINT = "use bps, Kbps, Mbps, Gbps or Tbps (or kbit/s, Mb/s, Gbit/s…)";

/**
 * One span: optional sign, a decimal number, optional spaces, an optional unit.
 * Sticky (`y`) so that the scanner sees exactly where a span fails.
 */
const SPAN_PATTERN = /\s*(?<sign>[-+]?)(?<int>\d*)(?:\.(?<frac>\d+))?\s*(?<unit>[a-z][a-z/]*)?/iy;

/** A parsed `<number><unit>` span: `digits × 10^exponent` bits per second. */
interface Span {
  readonly digits: bigint;
  readonly exponent: number;
}

/**
 * Parses a bandwidth such as `50Mbps`, `1.5 Gbit/s` or `1Gbps 500Mbps` to bits
 * per second (rounded to the nearest bit).
 *
 * @example
 * ```ts
 * parseBandwidth("1Gbps 500Mbps"); // 1_500_000_000
 * ```
 * @throws {BandwidthError} for empty input, a number without a unit, an unknown
 * unit, anything that is not `<number><unit>` spans, or a value that is negative
 * or above {@link MAX_BANDWIDTH_BPS}.
 */
export function parseBandwidth(input: string): number {
  const text = input.trim();
  if (text === "") {
    throw new BandwidthError(
      "empty",
      input,
      "Bandwidth is empty: give a number with a unit, e.g. 50Mbps.",
    );
  }
  if (text.length > MAX_BANDWIDTH_INPUT_CHARS) {
    throw new BandwidthError(
      "malformed",
      input,
      `Bandwidth "${text.slice(0, 32)}…" is longer than ${MAX_BANDWIDTH_INPUT_CHARS} characters: ` +
        "write it like 50Mbps or 1Gbps 500Mbps.",
    );
  }
  const total = scanSpans(input, text).reduce((sum, span) => sum + spanToBps(span), 0n);
  return checkedBps(input, total);
}

/** Splits the trimmed input into spans, throwing on the first one that is not `<number><unit>`. */
function scanSpans(input: string, text: string): Span[] {
  const spans: Span[] = [];
  let position = 0;
  while (position < text.length) {
    SPAN_PATTERN.lastIndex = position;
    const match = SPAN_PATTERN.exec(text);
    const groups = match?.groups;
    if (!match || !groups || (groups.int === "" && groups.frac === undefined)) {
      throw malformed(input, text.slice(position).trim());
    }
    const end = position + match[0].length;
    spans.push(spanOf(input, groups, text.slice(position, end).trim(), text.charAt(end)));
    position = end;
  }
  return spans;
}

/** Decides what one matched span means, or why it is rejected. */
function spanOf(
  input: string,
  groups: Record<string, string | undefined>,
  spanText: string,
  nextChar: string,
): Span {
  const int = groups.int ?? "";
  const frac = groups.frac ?? "";
  const unit = groups.unit;
  if (unit === undefined) {
    if (nextChar !== "" && !/\s/.test(nextChar)) throw malformed(input, spanText + nextChar);
    throw new BandwidthError(
      "bare-number",
      input,
      `Bandwidth "${input.trim()}" has a number without a unit ("${spanText}"): ` +
        `add a unit, e.g. ${spanText.replace(/^\+/, "")}Mbps.`,
    );
  }
  if (groups.sign === "-") {
    throw new BandwidthError(
      "out-of-range",
      input,
      `Bandwidth "${input.trim()}" is negative: give a value of 0bps or more.`,
    );
  }
  return { digits: BigInt((int + frac) || "0"), exponent: unitExponent(input, unit) - frac.length };
}

/** The power of ten of a unit, rejecting unknown units and byte spellings. */
function unitExponent(input: string, unit: string): number {
  if (looksLikeBytes(unit)) {
    throw new BandwidthError(
      "unknown-unit",
      input,
      `Bandwidth "${input.trim()}" uses "${unit}", which reads as bytes per second: ` +
        `bandwidths are in bits (1 byte = 8 bits); ${ACCEPTED_UNITS_HINT}.`,
    );
  }
  const exponent = UNIT_EXPONENTS.get(unit.toLowerCase());
  if (exponent === undefined) {
    throw new BandwidthError(
      "unknown-unit",
      input,
      `Bandwidth "${input.trim()}" has an unknown unit "${unit}": ${ACCEPTED_UNITS_HINT}.`,
    );
  }
  return exponent;
}

/**
 * `MB/s`, `MBps`, `kB/s`: an upper-case B among lower-case letters is the usual
 * way to write bytes. Units are otherwise case-insensitive, so an all-caps
 * `MBPS` still means megabits; only the mixed spelling is refused as ambiguous.
 */
function looksLikeBytes(unit: string): boolean {
  return /B(?:ps|\/s)$/.test(unit) && unit !== unit.toUpperCase();
}

function malformed(input: string, near: string): BandwidthError {
  return new BandwidthError(
    "malformed",
    input,
    `Bandwidth "${input.trim()}" is not a number with a unit near "${near.slice(0, 32)}": ` +
      "write it like 50Mbps or 1Gbps 500Mbps.",
  );
}

/** Exact value of a span in bits per second, rounded half up to a whole bit. */
function spanToBps(span: Span): bigint {
  if (span.exponent >= 0) return span.digits * 10n ** BigInt(span.exponent);
  const divisor = 10n ** BigInt(-span.exponent);
  return (span.digits * 2n + divisor) / (divisor * 2n);
}

function checkedBps(input: string, bps: bigint): number {
  if (bps > BigInt(MAX_BANDWIDTH_BPS)) {
    throw new BandwidthError(
      "out-of-range",
      input,
      `Bandwidth "${input.trim()}" is above the maximum of ${
        formatBandwidth(MAX_BANDWIDTH_BPS)
      }: give a smaller value.`,
    );
  }
  return Number(bps);
}

/**
 * Formats bits per second with the largest unit that keeps the number at 1 or
 * more, without trailing zeros. The result always parses back to the same value.
 *
 * @example
 * ```ts
 * formatBandwidth(50_000_000); // "50Mbps"
 * formatBandwidth(1_500_000_000); // "1.5Gbps"
 * ```
 * @throws {BandwidthError} ("out-of-range") for a negative, non-finite or
 * too-large value; fractions of a bit are rounded.
 */
export function formatBandwidth(bps: number): string {
  if (!Number.isFinite(bps) || bps < 0 || bps > MAX_BANDWIDTH_BPS) {
    throw new BandwidthError(
      "out-of-range",
      String(bps),
      `Bandwidth ${bps} bps is outside 0…${MAX_BANDWIDTH_BPS} bps: pass a whole number of bits per second in that range.`,
    );
  }
  const digits = String(BigInt(Math.round(bps)));
  const unit = FORMAT_UNITS.find((u) => digits.length > u.exponent) ?? BPS_UNIT;
  const splitAt = digits.length - unit.exponent;
  const whole = digits.slice(0, splitAt);
  const fraction = digits.slice(splitAt).replace(/0+$/, "");
  return `${whole}${fraction === "" ? "" : `.${fraction}`}${unit.name}`;
}
