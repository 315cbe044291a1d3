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
  readonly city?: string;
  readonly region?: string;
  readonly isp?: string;
  readonly asn?: number;
  /** Advertised bandwidth in bits per second. */
  readonly bandwidthBps: number;
  readonly proxy: boolean;
  readonly mobile: boolean;
  readonly hosting: boolean;
}

/** The filters of one proxy server (SPEC §4), already normalised. */
export interface ServerFilters {
  /** ISO 3166-1 alpha-2, upper case. */
  readonly country?: string;
  /** A bare city name, or `City; Region; Country`. */
  readonly city?: string;
  /** A regular expression source, matched case-insensitively against the exit's ISP. */
  readonly isp?: string;
  readonly asn?: number;
  /** Minimum advertised bandwidth in bits per second. */
  readonly minBandwidthBps: number;
  readonly proxy: FlagPolicy;
  readonly mobile: FlagPolicy;
  readonly hosting: FlagPolicy;
}

/** Filters that accept every exit. */
export const NO_FILTERS: ServerFilters = {
  minBandwidthBps: 0,
  proxy: "allow",
  mobile: "allow",
  hosting: "allow",
};
