import assert from "node:assert/strict";
import fc from "fast-check";
import {
  encodeSocks4Reply,
  encodeSocks4Request,
  MAX_SOCKS4_REQUEST_BYTES,
  parseSocks4Request,
  Socks4Error,
} from "./socks4.ts";

Deno.test("socks4: 4 and 4a requests read back to what built them", () => {
  assert.deepEqual(parseSocks4Request(encodeSocks4Request("192.0.2.7", 8080, "alice")), {
    kind: "ok",
    value: { command: "connect", host: "192.0.2.7", port: 8080, userId: "alice" },
    consumed: 14,
  });
  const fourA = encodeSocks4Request("dest.test", 443, "demo-country-de");
  const parsed = parseSocks4Request(new Uint8Array([...fourA, 9, 9]));
  assert.ok(parsed.kind === "ok");
  assert.equal(parsed.value.host, "dest.test");
  assert.equal(parsed.value.userId, "demo-country-de");
  assert.equal(parsed.consumed, fourA.byteLength, "early bytes are not the request's");
  for (let cut = 0; cut < fourA.byteLength; cut++) {
    assert.equal(parseSocks4Request(fourA.subarray(0, cut)).kind, "need-more");
  }
  assert.deepEqual([...encodeSocks4Reply(0x5a, 80, "10.0.0.1")], [0, 0x5a, 0, 80, 10, 0, 0, 1]);
});

Deno.test("socks4: bad requests are refused with a reason", () => {
  assert.throws(() => parseSocks4Request(Uint8Array.of(5, 1, 0, 80, 1, 2, 3, 4, 0)), /not 4/);
  assert.throws(() => parseSocks4Request(Uint8Array.of(4, 9, 0, 80, 1, 2, 3, 4, 0)), /command/);
  assert.throws(() => parseSocks4Request(Uint8Array.of(4, 1, 0, 0, 1, 2, 3, 4, 0)), /port 0/);
  const long = new Uint8Array(300).fill(0x61);
  long.set([4, 1, 0, 80, 1, 2, 3, 4]);
  assert.throws(() => parseSocks4Request(long), /longer than 255/);
});

Deno.test("socks4: arbitrary bytes parse, need more, or throw a Socks4Error", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 700 }), fc.boolean(), (bytes, version) => {
      if (version && bytes.byteLength > 1) bytes[0] = 4;
      try {
        const result = parseSocks4Request(bytes);
        if (result.kind === "ok") assert.ok(result.consumed <= bytes.byteLength);
        else assert.ok(bytes.byteLength <= MAX_SOCKS4_REQUEST_BYTES);
      } catch (error) {
        assert.ok(error instanceof Socks4Error, String(error));
      }
    }),
  );
});
