/**
 * What `bench:hub`'s synthetic exits say about themselves and what its
 * lookups ask for, shared by the registrar and lookup processes: 20
 * countries, 100 ASNs, so a country lookup matches about 1/20 of the
 * registry and a country + ASN lookup about 1/100.
 *
 * @module
 */
import type { ExitAttributes, ServerFilters } from "../../core/domain/attributes.ts";
import { NO_FILTERS } from "../../core/domain/attributes.ts";

/** The countries synthetic exits are spread over (valid ISO codes: the hub checks them). */
export const BENCH_COUNTRIES = [
  "NL",
  "DE",
  "US",
  "JP",
  "BR",
  "FR",
  "GB",
  "SE",
  "PL",
  "ES",
  "IT",
  "CA",
  "AU",
  "IN",
  "SG",
  "ZA",
  "MX",
  "KR",
  "CH",
  "NO",
] as const;

/** ASNs are 64 500 … 64 599 (the documentation range, RFC 5398). */
const ASN_BASE = 64_500;
const ASN_COUNT = 100;

/** The attributes of synthetic exit `n`. */
export function benchAttributes(n: number): ExitAttributes {
  return {
    country: BENCH_COUNTRIES[n % BENCH_COUNTRIES.length],
    asn: ASN_BASE + (n % ASN_COUNT),
    bandwidthBps: 100_000_000 * (1 + (n % 10)),
    proxy: false,
    mobile: n % 7 === 0,
    hosting: n % 3 === 0,
  };
}

/**
 * The filters of lookup `n`: mostly a country (as a proxy port would ask),
 * every fourth also an ASN, every fifth also a bandwidth floor.
 */
export function benchFilters(n: number): ServerFilters {
  const country = BENCH_COUNTRIES[n % BENCH_COUNTRIES.length];
  return {
    ...NO_FILTERS,
    country,
    ...(n % 4 === 0 ? { asn: ASN_BASE + ((n * 7) % ASN_COUNT) } : {}),
    ...(n % 5 === 0 ? { minBandwidthBps: 500_000_000 } : {}),
  };
}
