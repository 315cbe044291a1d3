/**
 * `@p2proxy/geoip-mmdb`: the `geoip` capability over MaxMind DB files, so the
 * hub derives each exit's country, city, region and ASN from the address it
 * registers from (docs/hub-behaviour.md#verified-locations).
 *
 * Options: `files` (paths of `.mmdb` files, e.g. a City and an ASN database;
 * none = locate nothing), `locate_ranges` (CIDRs located although they are
 * not public: for tests and closed labs). Permissions: read on each file.
 *
 * @example
 * ```yaml
 * plugins:
 *   "@p2proxy/geoip-mmdb": { files: [/var/lib/geoip/City.mmdb, /var/lib/geoip/ASN.mmdb] }
 * ```
 *
 * @module
 */
import ipaddr from "ipaddr.js";
import { z } from "zod";
import { definePlugin, PLUGIN_API_VERSION } from "../../core/plugin/contract.ts";
import { describeError, P2proxyError } from "../../core/errors.ts";

export type { MmdbGeoIp } from "./mmdb_geoip.ts";

/** Why the databases cannot be used. */
export type GeoIpMmdbErrorCode = "unreadable";

/** A database file could not be read or is not a MaxMind DB. */
export class GeoIpMmdbError extends P2proxyError<GeoIpMmdbErrorCode> {}

/** Options of `@p2proxy/geoip-mmdb`. */
export const GeoIpMmdbOptions = z.strictObject({
  /** `.mmdb` files, first match per field wins; none: nothing is located. */
  files: z.array(z.string().min(1)).max(8).default([]),
  /** CIDRs located even though they are private or loopback (tests, closed labs). */
  locate_ranges: z.array(
    z.string().refine((cidr) => ipaddr.isValidCIDR(cidr), {
      message: 'locate_ranges entries must be CIDRs such as "127.0.0.0/8"',
    }),
  ).max(64).default([]),
});

/** The plugin manifest. */
export const plugin = definePlugin({
  name: "@p2proxy/geoip-mmdb",
  version: "0.1.0",
  api: PLUGIN_API_VERSION,
  description: "Locates exits' addresses in MaxMind DB files (verified exit locations).",
  provides: ["geoip"],
  options: GeoIpMmdbOptions,
  permissions: (options) => (options.files.length > 0 ? { read: [...options.files] } : {}),
  create: async (options) => {
    const { MmdbGeoIp } = await import("./mmdb_geoip.ts");
    const databases: Uint8Array[] = [];
    for (const file of options.files) {
      try {
        databases.push(await Deno.readFile(file));
      } catch (error) {
        throw new GeoIpMmdbError(
          "unreadable",
          `Cannot read the geolocation database "${file}": ${describeError(error)}. ` +
            "Check the path in files and that p2proxy may read it.",
          { cause: error },
        );
      }
    }
    let geoip;
    try {
      geoip = new MmdbGeoIp(databases, options.locate_ranges);
    } catch (error) {
      throw new GeoIpMmdbError(
        "unreadable",
        `A file in files is not a MaxMind DB (${describeError(error)}): give .mmdb files.`,
        { cause: error },
      );
    }
    return { provides: { geoip } };
  },
});

export default plugin;
