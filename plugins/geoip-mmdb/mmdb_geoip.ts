/**
 * The `geoip` port over MaxMind DB files (`.mmdb`), read with `mmdb-lib`:
 * GeoLite2/GeoIP2 City, Country and ASN databases, and the `ip-location-db`
 * layouts (`country_code`, `city`, `state1`, `autonomous_system_number`). Several
 * files are merged: the first that knows a field wins (a City file plus an
 * ASN file).
 *
 * Private, loopback, link-local and other non-public addresses are never
 * looked up, unless they fall in `locateRanges` (tests map loopback test
 * addresses that way: docs/hub-behaviour.md#verified-locations).
 *
 * @module
 */
import ipaddr from "ipaddr.js";
import { Buffer } from "node:buffer";
import { Reader } from "mmdb-lib";
import type { GeoIp, GeoLocation } from "../../core/ports/geoip.ts";

/** A record as any of the supported layouts spells it (fields read defensively). */
type MmdbRecord = Record<string, unknown>;

/** Reads locations from one or more opened databases. */
export class MmdbGeoIp implements GeoIp {
  readonly #readers: readonly Reader<MmdbRecord>[];
  readonly #locateRanges: readonly [ipaddr.IPv4 | ipaddr.IPv6, number][];

  /** Databases as file contents (bytes), and CIDRs located even though they are not public. */
  constructor(databases: readonly Uint8Array[], locateRanges: readonly string[] = []) {
    this.#readers = databases.map((bytes) => new Reader<MmdbRecord>(Buffer.from(bytes)));
    this.#locateRanges = locateRanges.map((cidr) => ipaddr.parseCIDR(cidr));
  }

  /** Where `ip` is; undefined for an address no database knows, or one that is not public. */
  locate(ip: string): Promise<GeoLocation | undefined> {
    if (!ipaddr.isValid(ip) || !this.#locatable(ip)) return Promise.resolve(undefined);
    const merged: Record<string, unknown> = {};
    for (const reader of this.#readers) {
      let record: MmdbRecord | null;
      try {
        record = reader.get(ip);
      } catch {
        // An IPv6 address in an IPv4-only database.
        continue;
      }
      if (!record) continue;
      for (const [field, value] of Object.entries(fieldsOf(record))) {
        if (value !== undefined && merged[field] === undefined) merged[field] = value;
      }
    }
    return Promise.resolve(Object.keys(merged).length === 0 ? undefined : merged as GeoLocation);
  }

  #locatable(ip: string): boolean {
    const address = ipaddr.process(ip);
    if (address.range() === "unicast") return true;
    return this.#locateRanges.some(([range, bits]) =>
      range.kind() === address.kind() && address.match(range, bits)
    );
  }
}

/** The fields of a record in the MaxMind or the ip-location-db layout. */
function fieldsOf(record: MmdbRecord): Partial<Record<keyof GeoLocation, string | number>> {
  const country = text(path(record, "country", "iso_code")) ?? text(record.country_code);
  const city = text(path(record, "city", "names", "en")) ?? text(record.city);
  const subdivisions = record.subdivisions;
  const region =
    (Array.isArray(subdivisions)
      ? text(path(subdivisions[0] as MmdbRecord, "names", "en"))
      : undefined) ?? text(record.state1);
  const asnValue = record.autonomous_system_number;
  const asn = typeof asnValue === "number" ? asnValue : undefined;
  const isp = text(record.isp) ?? text(record.autonomous_system_organization);
  return { country, city, region, asn, isp };
}

function path(record: MmdbRecord | undefined, ...keys: string[]): unknown {
  let value: unknown = record;
  for (const key of keys) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as MmdbRecord)[key];
  }
  return value;
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}
