/**
 * The mmdb geoip plugin over databases built by the test (`_testing.ts`, a
 * minimal MaxMind DB writer), and verified exit locations at a real hub.
 *
 * Every exit on this machine registers from 127.0.0.1 (the kernel picks that
 * source for any loopback destination), and loopback addresses are never
 * located by default — an exit there keeps what it declared, as the demo
 * needs. So the hub test maps 127.0.0.1 in its database and lists
 * 127.0.0.0/8 in the plugin's `locate_ranges`: the address then takes exactly
 * the path a public address takes.
 *
 * @module
 */
import assert from "node:assert/strict";
import { NO_FILTERS } from "../../core/domain/attributes.ts";
import { asMultiaddr } from "../../core/ids.ts";
import { someAttributes } from "../../core/testing/builders.ts";
import { registerOnce, TestNet } from "../../hub/_testing.ts";
import { HubDirectory } from "../directory-hub/hub_directory.ts";
import { buildMmdb } from "./_testing.ts";
import { MmdbGeoIp } from "./mmdb_geoip.ts";
import { GeoIpMmdbOptions, plugin } from "./mod.ts";

/** A City database in MaxMind's layout (81.2.69.0/24 is the address MaxMind's own tests use). */
const CITY = buildMmdb([
  {
    cidr: "81.2.69.0/24",
    data: {
      country: { iso_code: "GB", names: { en: "United Kingdom" } },
      city: { names: { en: "London" } },
      subdivisions: [{ iso_code: "ENG", names: { en: "England" } }],
    },
  },
  {
    cidr: "127.0.0.1/32",
    data: { country: { iso_code: "DE" }, city: { names: { en: "Berlin" } } },
  },
]);
/** An ASN database in MaxMind's layout. */
const ASN = buildMmdb([
  {
    cidr: "81.2.69.0/24",
    data: { autonomous_system_number: 20712, autonomous_system_organization: "A&A" },
  },
  {
    cidr: "127.0.0.1/32",
    data: { autonomous_system_number: 3320, autonomous_system_organization: "DTAG" },
  },
]);
/** The ip-location-db layout (one flat record per range). */
const FLAT = buildMmdb([
  {
    cidr: "192.0.0.0/8",
    data: { country_code: "JP", city: "Tokyo", state1: "Tokyo", autonomous_system_number: 2516 },
  },
]);

Deno.test("MmdbGeoIp reads MaxMind City + ASN files merged, and the ip-location-db layout", async () => {
  const geoip = new MmdbGeoIp([CITY, ASN]);
  assert.deepEqual(await geoip.locate("81.2.69.142"), {
    country: "GB",
    city: "London",
    region: "England",
    asn: 20712,
    isp: "A&A",
  });
  assert.equal(await geoip.locate("81.2.70.1"), undefined);
  assert.equal(await geoip.locate("2001:db8::1"), undefined, "IPv6 in IPv4-only files");
  assert.equal(await geoip.locate("not an ip"), undefined);
  assert.deepEqual(await new MmdbGeoIp([FLAT]).locate("192.1.2.3"), {
    country: "JP",
    city: "Tokyo",
    region: "Tokyo",
    asn: 2516,
  });
});

Deno.test("MmdbGeoIp never locates loopback or private addresses unless listed in locate_ranges", async () => {
  assert.equal(await new MmdbGeoIp([CITY]).locate("127.0.0.1"), undefined);
  assert.equal(await new MmdbGeoIp([FLAT]).locate("192.168.1.1"), undefined);
  const located = new MmdbGeoIp([CITY], ["127.0.0.0/8"]);
  assert.deepEqual(await located.locate("127.0.0.1"), { country: "DE", city: "Berlin" });
});

Deno.test("geoip-mmdb options, permissions and unreadable files", async () => {
  assert.deepEqual(GeoIpMmdbOptions.parse({}), { files: [], locate_ranges: [] });
  assert.equal(GeoIpMmdbOptions.safeParse({ locate_ranges: ["127.0.0.1"] }).success, false);
  assert.deepEqual(
    plugin.permissions?.(GeoIpMmdbOptions.parse({ files: ["/g/City.mmdb"] }), {
      stateDir: ".",
      role: "hub",
    }),
    { read: ["/g/City.mmdb"] },
  );
  const dir = await Deno.makeTempDir({ prefix: "p2proxy-geoip-" });
  try {
    const context = {
      stateDir: dir,
      role: "hub" as const,
      get: () => assert.fail("geoip-mmdb requires nothing"),
      find: () => assert.fail("geoip-mmdb wants nothing"),
    };
    await assert.rejects(
      Promise.resolve(
        plugin.create(GeoIpMmdbOptions.parse({ files: [`${dir}/none.mmdb`] }), context),
      ),
      /Cannot read the geolocation database ".*none\.mmdb"/,
    );
    await Deno.writeTextFile(`${dir}/junk.mmdb`, "not a database");
    await assert.rejects(
      Promise.resolve(
        plugin.create(GeoIpMmdbOptions.parse({ files: [`${dir}/junk.mmdb`] }), context),
      ),
      /is not a MaxMind DB/,
    );
    await Deno.writeFile(`${dir}/city.mmdb`, CITY);
    const instance = await plugin.create(
      GeoIpMmdbOptions.parse({ files: [`${dir}/city.mmdb`] }),
      context,
    );
    assert.equal((await instance.provides.geoip.locate("81.2.69.1"))?.country, "GB");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hub: an exit's declared location is replaced by the located one, and filters match it", async () => {
  const net = new TestNet();
  try {
    const verifying = await net.hub({ geoip: new MmdbGeoIp([CITY, ASN], ["127.0.0.0/8"]) });
    const trusting = await net.hub({ geoip: new MmdbGeoIp([CITY, ASN]) });
    const exit = await net.node();
    const declared = someAttributes({ country: "NL", city: "Amsterdam", asn: 1136, isp: "KPN" });
    await registerOnce(exit, verifying, declared);
    await registerOnce(exit, trusting, declared);

    const [record] = await verifying.registry.list();
    assert.equal(record?.attributes.country, "DE");
    assert.equal(record?.attributes.city, "Berlin");
    assert.equal(record?.attributes.asn, 3320);
    assert.deepEqual(record?.location, {
      observedIp: "127.0.0.1",
      verified: true,
      replaced: [
        { field: "country", declared: "NL", located: "DE" },
        { field: "city", declared: "Amsterdam", located: "Berlin" },
        { field: "asn", declared: 1136, located: 3320 },
        { field: "isp", declared: "KPN", located: "DTAG" },
      ],
    });
    const probe = await net.node();
    const find = (hub: typeof verifying, country: string) =>
      new HubDirectory({ network: probe, hubs: [asMultiaddr(hub.address)] }).findNodes({
        filters: { ...NO_FILTERS, country },
        limit: 5,
        exclude: [],
      });
    assert.deepEqual((await find(verifying, "DE")).map((r) => r.peerId), [exit.peerId]);
    assert.deepEqual(await find(verifying, "NL"), []);
    // Loopback is not located by default: the declared values stand, unverified.
    assert.deepEqual((await find(trusting, "NL")).map((r) => r.peerId), [exit.peerId]);
    const [trusted] = await trusting.registry.list();
    assert.deepEqual(trusted?.location, { observedIp: "127.0.0.1", verified: false, replaced: [] });
  } finally {
    await net.close();
  }
});
