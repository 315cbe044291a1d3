/**
 * Byte sizes in config (`quota: { bytes: 50GB }`): parsing to a byte count.
 *
 * Decimal units (`KB` = 1e3 … `PB` = 1e15) and binary ones (`KiB` = 1024 … `PiB`),
 * case-insensitive, with an optional space and a fraction (`1.5GB`). Bits (`Mb`, `Gbit`) are
 * refused, like bytes are refused in bandwidths (core/domain/bandwidth.ts): a quota counts bytes.
 *
 * @module
 */
import { P2proxyError } from "../errors.ts";

/** Largest accepted size: 1 EB, far above any quota and inside `Number.MAX_SAFE_INTEGER`. */
export const MAX_BYTE_SIZE = 1e18;

/** Longest accepted input: a size is a number and a unit. */
const MAX_BYTE_SIZE_INPUT_CHARS = 64;

/** Why a byte size was rejected. */
export type ByteSizeErrorCode =
  | "empty"
  | "bare-number"
  | "unknown-unit"
  | "malformed"
  | "out-of-range";

/** A byte-size string that cannot be turned into a byte count. */
export class ByteSizeError extends P2proxyError<ByteSizeErrorCode> {
  /** The rejected input, verbatim. */
  readonly input: string;

  /** `input` is the string as given; `message` says what is wrong and what to write instead. */
  constructor(code: ByteSizeErrorCode, input: string, message: string) {
    super(code, message);
    this.input = input;
  }
}

/** Unit (lower case) to its multiplier. */
const UNIT_BYTES: ReadonlyMap<string, number> = new Map([
  ["b", 1],
  ["kb", 1e3],
  ["mb", 1e6],
  ["gb", 1e9],
  ["tb", 1e12],
  ["pb", 1e15],
  ["kib", 2 ** 10],
  ["mib", 2 ** 20],
  ["gib", 2 ** 30],
  ["tib", 2 ** 40],
  ["pib", 2 ** 50],
]);

const UNITS_HINT = "use B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)";

const SIZE_PATTERN = /^(?<number>\d+(?:\.\d+)?)\s*(?<unit>[a-z]+)?$/i;

/**
 * Parses a byte size such as `50GB`, `1.5 GiB` or `512KB` to bytes (rounded down to a whole byte).
 *
 * @example
 * ```ts
 * parseByteSize("5MB"); // 5_000_000
 * parseByteSize("1KiB"); // 1024
 * ```
 * @throws {ByteSizeError} for empty input, a number without a unit, an unknown unit (bits
 * included), anything else that is not `<number><unit>`, or a value above {@link MAX_BYTE_SIZE}.
 */
export function parseByteSize(input: string): number {
  const text = input.trim();
  if (text === "") {
    throw new ByteSizeError(
      "empty",
      input,
      "The size is empty: give a number with a unit, e.g. 50GB.",
    );
  }
  const shown = text.length > 32 ? `${text.slice(0, 32)}…` : text;
  const match = text.length <= MAX_BYTE_SIZE_INPUT_CHARS ? SIZE_PATTERN.exec(text) : null;
  const groups = match?.groups;
  if (!groups?.number) {
    throw new ByteSizeError(
      "malformed",
      input,
      `Size "${shown}" is not a number with a unit: write it like 50GB or 512MiB.`,
    );
  }
  const unit = groups.unit;
  if (unit === undefined) {
    throw new ByteSizeError(
      "bare-number",
      input,
      `Size "${shown}" has no unit: write it with one, e.g. "${groups.number}MB".`,
    );
  }
  const multiplier = UNIT_BYTES.get(unit.toLowerCase());
  const bits = readsAsBits(unit);
  if (multiplier === undefined || bits) {
    throw new ByteSizeError(
      "unknown-unit",
      input,
      bits
        ? `Size "${shown}" uses "${unit}", which reads as bits: sizes are in bytes; ${UNITS_HINT}.`
        : `Size "${shown}" has an unknown unit "${unit}": ${UNITS_HINT}.`,
    );
  }
  const bytes = Math.floor(Number(groups.number) * multiplier);
  if (!Number.isFinite(bytes) || bytes > MAX_BYTE_SIZE) {
    throw new ByteSizeError(
      "out-of-range",
      input,
      `Size "${shown}" is above the largest accepted size, 1EB: give a smaller value.`,
    );
  }
  return bytes;
}

/** `Mb`, `Gbit`, `kbit`: an upper-case prefix before a lower-case `b`, or `bit`, means bits. */
function readsAsBits(unit: string): boolean {
  return /bit/i.test(unit) || /^[KMGTP]b$/.test(unit);
}

/**
 * A byte count in the largest decimal unit that keeps it readable, for logs and messages.
 *
 * @example
 * ```ts
 * formatByteSize(5_000_000); // "5MB"
 * ```
 */
export function formatByteSize(bytes: number): string {
  for (
    const [unit, size] of [["PB", 1e15], ["TB", 1e12], ["GB", 1e9], ["MB", 1e6], [
      "KB",
      1e3,
    ]] as const
  ) {
    if (bytes >= size) return `${Number((bytes / size).toFixed(2))}${unit}`;
  }
  return `${bytes}B`;
}
