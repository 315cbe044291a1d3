/**
 * Verified exit locations (docs/hub-behaviour.md#verified-locations), pure: the hub looks up the
 * address a registration came from in a geolocation database; what the
 * database knows (country, city, region, ASN, ISP) replaces what the exit
 * declared, and every declared value that disagreed is flagged. An address
 * the database does not locate — private and loopback addresses are never
 * located by default — keeps the declared values, unverified.
 *
 * @module
 */
import type { GeoLocation } from "../ports/geoip.ts";
import type { ExitAttributes } from "./attributes.ts";
import { normalizeCountry } from "./country.ts";

/** Longest located city, region or ISP kept (the registration rule's bound). */
const MAX_LOCATED_CHARS = 128;

// deno-lint-ignore no-control-regex
const UNUSABLE_TEXT = /[\u0000-\u001f\u007f-\u009f;]/;

/** The attributes a database can vouch for. */
export const LOCATED_FIELDS = ["country", "city", "region", "asn", "isp"] as const;

/** One of {@link LOCATED_FIELDS}. */
export type LocatedField = typeof LOCATED_FIELDS[number];

/** A declared value the database contradicted, and what replaced it. */
export interface ReplacedValue {
  /** Which attribute. */
  readonly field: LocatedField;
  /** What the exit declared. */
  readonly declared: string | number;
  /** What the database says, and the record now holds. */
  readonly located: string | number;
}

/** What the hub found out about where an exit is. */
export interface LocationCheck {
  /** The address the registration came from. */
  readonly observedIp: string;
  /** True when the database located it: the located fields are its values. */
  readonly verified: boolean;
  /** Declared values that disagreed with the database (replaced). */
  readonly replaced: readonly ReplacedValue[];
}

/** The attributes to register and the check that produced them. */
export interface VerifiedAttributes {
  /** The attributes to register: the declared ones with the located fields replaced. */
  readonly attributes: ExitAttributes;
  /** What was checked and replaced. */
  readonly location: LocationCheck;
}

/**
 * The attributes an exit is registered with, given what it declared and
 * where the database places `observedIp` (undefined: not located). Located
 * values that a registration could not hold (an unknown country code, text
 * with `;` or control characters, too long) are ignored.
 *
 * @example
 * ```ts
 * const declared = { country: "NL", bandwidthBps: 1e9, proxy: false, mobile: false, hosting: false };
 * verifyLocation(declared, "81.2.69.142", { country: "GB" }).location.replaced;
 * // [{ field: "country", declared: "NL", located: "GB" }]
 * ```
 */
export function verifyLocation(
  declared: ExitAttributes,
  observedIp: string,
  located: GeoLocation | undefined,
): VerifiedAttributes {
  if (located === undefined) {
    return { attributes: declared, location: { observedIp, verified: false, replaced: [] } };
  }
  const usable = usableLocation(located);
  const attributes: Record<string, unknown> = { ...declared };
  const replaced: ReplacedValue[] = [];
  for (const field of LOCATED_FIELDS) {
    const value = usable[field];
    if (value === undefined) continue;
    const mine = declared[field];
    if (mine !== undefined && !sameValue(mine, value)) {
      replaced.push({ field, declared: mine, located: value });
    }
    attributes[field] = value;
  }
  return {
    attributes: attributes as unknown as ExitAttributes,
    location: { observedIp, verified: true, replaced },
  };
}

function usableLocation(located: GeoLocation): GeoLocation {
  const country = located.country === undefined ? undefined : normalizeCountry(located.country);
  const text = (value: string | undefined) =>
    value === undefined || value.trim() === "" || value.length > MAX_LOCATED_CHARS ||
      UNUSABLE_TEXT.test(value)
      ? undefined
      : value.trim();
  const city = text(located.city);
  const region = text(located.region);
  const isp = text(located.isp);
  const asn = located.asn !== undefined && Number.isInteger(located.asn) && located.asn >= 0 &&
      located.asn <= 4_294_967_295
    ? located.asn
    : undefined;
  return {
    ...(country === undefined || !/^[A-Z]{2}$/.test(country) ? {} : { country }),
    ...(city === undefined ? {} : { city }),
    ...(region === undefined ? {} : { region }),
    ...(asn === undefined ? {} : { asn }),
    ...(isp === undefined ? {} : { isp }),
  };
}

function sameValue(a: string | number, b: string | number): boolean {
  if (typeof a === "number" || typeof b === "number") return a === b;
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}

/** The IP literal of a `/ip4/…` or `/ip6/…` multiaddr, or undefined (DNS names, circuits). */
export function observedIpOf(address: string): string | undefined {
  if (address.includes("/p2p-circuit")) return undefined;
  return /^\/ip[46]\/([^/]+)/.exec(address)?.[1];
}
