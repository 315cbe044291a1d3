import assert from "node:assert/strict";
import fc from "fast-check";
import {
  ByteSizeError,
  type ByteSizeErrorCode,
  formatByteSize,
  MAX_BYTE_SIZE,
  parseByteSize,
} from "./byte_size.ts";

function assertByteSizeError(input: string, code: ByteSizeErrorCode): ByteSizeError {
  try {
    parseByteSize(input);
  } catch (error) {
    assert.ok(error instanceof ByteSizeError, `expected a ByteSizeError for ${input}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`"${input}" parsed, but should be refused with ${code}`);
}

Deno.test("byte size: decimal and binary units, any case, spaces and fractions", () => {
  assert.equal(parseByteSize("50GB"), 50_000_000_000);
  assert.equal(parseByteSize("5MB"), 5_000_000);
  assert.equal(parseByteSize("5 mb"), 5_000_000);
  assert.equal(parseByteSize("1KiB"), 1024);
  assert.equal(parseByteSize("1.5GiB"), 1.5 * 2 ** 30);
  assert.equal(parseByteSize(" 100B "), 100);
  assert.equal(parseByteSize("0.5KB"), 500);
});

Deno.test("byte size: bits, bare numbers, unknown units and junk are refused, quoting the input", () => {
  assert.match(assertByteSizeError("5Mb", "unknown-unit").message, /"Mb", which reads as bits/);
  assertByteSizeError("5Gbit", "unknown-unit");
  assert.match(assertByteSizeError("50", "bare-number").message, /"50MB"/);
  assert.match(assertByteSizeError("5 furlongs", "unknown-unit").message, /"furlongs"/);
  assertByteSizeError("", "empty");
  assertByteSizeError("-5MB", "malformed");
  assertByteSizeError("MB", "malformed");
  assertByteSizeError("5MB 3KB", "malformed");
  assertByteSizeError("2000PB", "out-of-range");
});

Deno.test("byte size (property): arbitrary strings parse or throw a ByteSizeError, never else", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 80 }), (text) => {
      try {
        const bytes = parseByteSize(text);
        assert.ok(Number.isInteger(bytes) && bytes >= 0 && bytes <= MAX_BYTE_SIZE);
      } catch (error) {
        assert.ok(error instanceof ByteSizeError, String(error));
      }
    }),
  );
});

Deno.test("byte size (property): an integer with a unit parses to integer × unit", () => {
  const units = fc.constantFrom(
    ["B", 1],
    ["KB", 1e3],
    ["MB", 1e6],
    ["GB", 1e9],
    ["KiB", 1024],
    ["MiB", 2 ** 20],
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1_000_000 }), units, (n, [unit, size]) => {
      assert.equal(parseByteSize(`${n}${unit}`), n * (size as number));
    }),
  );
});

Deno.test("byte size: formatted for messages in the largest decimal unit", () => {
  assert.equal(formatByteSize(5_000_000), "5MB");
  assert.equal(formatByteSize(1_500), "1.5KB");
  assert.equal(formatByteSize(12), "12B");
});
