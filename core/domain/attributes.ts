/**
 * What an exit says about itself, and what a server asks of an exit.
 * Matching lives in `filters.ts`; this file only names the shapes.
 *
 * @module
 */

/** `allow` ignores the flag, `deny` rejects exits that have it, `require` rejects exits that lack it. */
export type FlagPolicy = "allow" | "deny" | "require";

/** Attributes an exit registers with the hub. */
export interface ExitAttributes {
  /** ISO 3166-1 alpha-2, upper case. */
  readonly country?: string;
  /** City name, e.g. `Amsterdam`. */
  readonly city?: string;
  /** Region or province, e.g. `North Holland`. */
  readonly region?: string;
  /** Name of the network operator the exit's traffic leaves through. */
  readonly isp?: string;
  /** Autonomous system number of that network. */
  readonly asn?: number;
  /** Advertised bandwidth in bits per second. */
  readonly bandwidthBps: number;
  /** The exit's address is known as a proxy or VPN address. */
  readonly proxy: boolean;
  /** The exit leaves through a mobile (cellular) network. */
  readonly mobile: boolean;
  /** The exit leaves through a hosting provider (a data centre). */
  readonly hosting: boolean;
}

/** The filters of one proxy server (docs/config-reference.md), already normalised. */
export interface ServerFilters {
  /** ISO 3166-1 alpha-2, upper case. */
  readonly country?: string;
  /** A bare city name, or `City; Region; Country`. */
  readonly city?: string;
  /** A regular expression source, matched case-insensitively against the exit's ISP. */
  readonly isp?: string;
  /** The autonomous system number the exit must have. */
  readonly asn?: number;
  /** Minimum advertised bandwidth in bits per second. */
  readonly minBandwidthBps: number;
  /** What to do with exits flagged as proxy or VPN addresses. */
  readonly proxy: FlagPolicy;
  /** What to do with exits on mobile networks. */
  readonly mobile: FlagPolicy;
  /** What to do with exits at hosting providers. */
  readonly hosting: FlagPolicy;
}

/** Filters that accept every exit. */
export const NO_FILTERS: ServerFilters = {
  minBandwidthBps: 0,
  proxy: "allow",
  mobile: "allow",
  hosting: "allow",
};
