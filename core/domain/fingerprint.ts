/**
 * A server's fingerprint (docs/proxy-behaviour.md#fingerprint): the sticky store keeps it beside a
 * port's pool, and a changed fingerprint means the remembered exits were chosen under other filters
 * and must be forgotten.
 *
 * @module
 */
import type { ServerFilters } from "./attributes.ts";
import type { ExitSelection } from "./server.ts";

/** Bump when the meaning or layout of a field changes, so old pools are dropped. */
const FINGERPRINT_VERSION = "v1";

/**
 * A versioned string of the port and every filter, in a fixed order:
 * `v1|port=1080|country=NL|city|isp|asn|min_bandwidth_bps=50000000|proxy=allow|mobile=allow|hosting=deny`.
 *
 * An unset filter is its bare key (`city`), a set one `key=value`, so an unset
 * and an empty value differ. In values `%` and `|` are percent-escaped, so no
 * value can forge a field boundary: different inputs give different strings.
 *
 * @example
 * ```ts
 * serverFingerprint(1080, { ...NO_FILTERS, country: "NL" });
 * // "v1|port=1080|country=NL|city|isp|asn|min_bandwidth_bps=0|proxy=allow|mobile=allow|hosting=allow"
 * ```
 */
export function serverFingerprint(port: number, filters: ServerFilters): string {
  const fields: [string, string | number | undefined][] = [
    ["port", port],
    ["country", filters.country],
    ["city", filters.city],
    ["isp", filters.isp],
    ["asn", filters.asn],
    ["min_bandwidth_bps", filters.minBandwidthBps],
    ["proxy", filters.proxy],
    ["mobile", filters.mobile],
    ["hosting", filters.hosting],
  ];
  return [FINGERPRINT_VERSION, ...fields.map(([key, value]) => field(key, value))].join("|");
}

/**
 * The key of a per-session {@link ExitSelection}: the filters' fingerprint (port 0) and the session
 * id, escaped like a filter value, so distinct selections never share a key.
 *
 * @example
 * ```ts
 * selectionKey({ filters: { ...NO_FILTERS, country: "DE" }, session: "abc" });
 * // "v1|port=0|country=DE|…|hosting=allow|session=abc"
 * ```
 */
export function selectionKey(selection: ExitSelection): string {
  return `${serverFingerprint(0, selection.filters)}|${field("session", selection.session)}`;
}

function field(key: string, value: string | number | undefined): string {
  if (value === undefined) return key;
  return `${key}=${escapeValue(typeof value === "number" ? numberText(value) : value)}`;
}

/** `String()` but keeping -0 apart from 0, so distinct numbers never share a text. */
function numberText(value: number): string {
  return Object.is(value, -0) ? "-0" : String(value);
}

function escapeValue(value: string): string {
  return value.replaceAll("%", "%25").replaceAll("|", "%7C");
}
