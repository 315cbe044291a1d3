import assert from "node:assert/strict";
import fc from "fast-check";
import { someAttributes } from "../testing/builders.ts";
import { observedIpOf, verifyLocation } from "./verified_location.ts";

Deno.test("verifyLocation: the database's values replace declared ones, and disagreements are flagged", () => {
  const declared = someAttributes({ country: "NL", city: "Amsterdam", asn: 1136, isp: "KPN" });
  const { attributes, location } = verifyLocation(declared, "81.2.69.142", {
    country: "DE",
    city: "amsterdam",
    asn: 3320,
    region: "Berlin",
  });
  assert.equal(attributes.country, "DE");
  assert.equal(attributes.asn, 3320);
  assert.equal(attributes.region, "Berlin");
  // Same city in another case: not a disagreement. ISP unknown to the database: declared stands.
  assert.equal(attributes.city, "amsterdam");
  assert.equal(attributes.isp, "KPN");
  assert.equal(attributes.bandwidthBps, declared.bandwidthBps);
  assert.deepEqual(location, {
    observedIp: "81.2.69.142",
    verified: true,
    replaced: [
      { field: "country", declared: "NL", located: "DE" },
      { field: "asn", declared: 1136, located: 3320 },
    ],
  });
});

Deno.test("verifyLocation: an address the database does not locate keeps the declared values", () => {
  const declared = someAttributes({ country: "NL" });
  assert.deepEqual(verifyLocation(declared, "127.0.0.1", undefined), {
    attributes: declared,
    location: { observedIp: "127.0.0.1", verified: false, replaced: [] },
  });
});

Deno.test("verifyLocation: located values a registration could not hold are ignored", () => {
  const declared = someAttributes({ country: "NL", city: "Amsterdam" });
  const { attributes, location } = verifyLocation(declared, "81.2.69.142", {
    country: "XX",
    city: "Bad; city",
    asn: -1,
    isp: "x".repeat(200),
  });
  assert.deepEqual(attributes, declared);
  assert.deepEqual(location.replaced, []);
});

Deno.test("verifyLocation never invents fields and never drops the non-location ones (property)", () => {
  const located = fc.record({
    country: fc.constantFrom("NL", "DE", "zz", ""),
    city: fc.string({ maxLength: 140 }),
    region: fc.string({ maxLength: 20 }),
    asn: fc.integer({ min: -5, max: 5_000_000_000 }),
    isp: fc.string({ maxLength: 140 }),
  }, { requiredKeys: [] });
  fc.assert(fc.property(located, (geo) => {
    const declared = someAttributes();
    const { attributes, location } = verifyLocation(declared, "81.2.69.142", geo);
    assert.equal(attributes.bandwidthBps, declared.bandwidthBps);
    assert.equal(attributes.hosting, declared.hosting);
    for (const replaced of location.replaced) {
      assert.equal(attributes[replaced.field], replaced.located);
    }
    if (attributes.country !== undefined) assert.match(attributes.country, /^[A-Z]{2}$/);
  }));
});

Deno.test("observedIpOf reads IP multiaddrs only", () => {
  assert.equal(observedIpOf("/ip4/81.2.69.142/tcp/4001"), "81.2.69.142");
  assert.equal(observedIpOf("/ip6/2001:db8::1/tcp/4001/p2p/12D3KooW"), "2001:db8::1");
  assert.equal(observedIpOf("/dns4/exit.example/tcp/4001"), undefined);
  assert.equal(observedIpOf("/ip4/1.2.3.4/tcp/1/p2p/A/p2p-circuit/p2p/B"), undefined);
});
