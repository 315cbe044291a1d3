/**
 * Where an IP address is, from a geolocation database (docs/hub-behaviour.md#verified-locations):
 * the hub derives an exit's country, city, region and ASN from the address
 * it observes instead of believing what the exit declares.
 *
 * @module
 */

/** What a database says about an address; any field may be unknown. */
export interface GeoLocation {
  /** ISO 3166-1 alpha-2, upper case. */
  readonly country?: string;
  /** City name in English. */
  readonly city?: string;
  /** First-level subdivision (state, province) in English. */
  readonly region?: string;
  /** Autonomous system number. */
  readonly asn?: number;
  /** The autonomous system's organisation, as the database names it. */
  readonly isp?: string;
}

/**
 * Locates addresses. Implementations leave private, loopback and link-local
 * addresses unlocated (undefined) unless configured otherwise (tests): such
 * an exit keeps what it declared.
 */
export interface GeoIp {
  /** Where `ip` (an IPv4 or IPv6 literal) is, or undefined when the database does not know. */
  locate(ip: string): Promise<GeoLocation | undefined>;
}
