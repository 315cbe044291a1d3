import assert from "node:assert/strict";
import fc from "fast-check";
import { closestMatch, didYouMean, editDistance } from "./did_you_mean.ts";

Deno.test("editDistance: examples", () => {
  assert.equal(editDistance("", ""), 0);
  assert.equal(editDistance("port", "port"), 0);
  assert.equal(editDistance("prot", "port"), 1, "a transposition is one edit");
  assert.equal(editDistance("min_bandwith", "min_bandwidth"), 1);
  assert.equal(editDistance("kitten", "sitting"), 3);
  assert.equal(editDistance("", "abc"), 3);
});

Deno.test("editDistance: a distance-like function", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), (a, b) => {
      const distance = editDistance(a, b);
      assert.equal(distance, editDistance(b, a));
      assert.equal(distance === 0, a === b);
      assert.ok(distance >= Math.abs(a.length - b.length));
      assert.ok(distance <= Math.max(a.length, b.length));
    }),
  );
});

Deno.test("closestMatch: typos, case, dashes and camelCase", () => {
  const keys = ["protocol", "port", "bind", "min_bandwidth", "destination_peers", "sticky"];
  assert.equal(closestMatch("prot", keys), "port");
  assert.equal(closestMatch("min_bandwith", keys), "min_bandwidth");
  assert.equal(closestMatch("minBandwidth", keys), "min_bandwidth");
  assert.equal(closestMatch("min-bandwidth", keys), "min_bandwidth");
  assert.equal(closestMatch("Destination_Peer", keys), "destination_peers");
  assert.equal(closestMatch("colour", keys), undefined);
  assert.equal(closestMatch("", keys), undefined);
  assert.equal(closestMatch("x".repeat(1000), keys), undefined);
});

Deno.test("closestMatch: only ever returns a candidate", () => {
  fc.assert(
    fc.property(
      fc.string({ maxLength: 20 }),
      fc.array(fc.string({ maxLength: 20 })),
      (input, candidates) => {
        const match = closestMatch(input, candidates);
        if (match !== undefined) assert.ok(candidates.includes(match));
      },
    ),
  );
});

Deno.test("didYouMean: a sentence tail or nothing", () => {
  assert.equal(didYouMean("prot", ["port"]), " Did you mean `port`?");
  assert.equal(didYouMean("zzzz", ["port"]), "");
});
