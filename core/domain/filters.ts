/**
 * Matching an exit's attributes against a server's filters (docs/hub-behaviour.md#findnodes).
 * The hub runs this for `FindNodes` and the proxy runs the same code to
 * explain why an exit was or was not chosen, so a verdict lists every failing
 * filter in words.
 *
 * Rules: an unset filter matches every exit; a set filter fails an exit that
 * lacks the attribute. Text (city, region) compares case-insensitively and
 * ignoring accents; countries compare as ISO alpha-2.
 *
 * @module
 */
import { P2proxyError } from "../errors.ts";
import type { ExitAttributes, FlagPolicy, ServerFilters } from "./attributes.ts";
import { formatBandwidth, MAX_BANDWIDTH_BPS } from "./bandwidth.ts";
import { normalizeCountry, suggestCountries } from "./country.ts";

/** Longest accepted `isp` pattern: a real one names a few ISPs; longer ones only add matching cost. */
export const MAX_ISP_PATTERN_CHARS = 256;

/**
 * How much of an exit's ISP the pattern is tested against. Real ISP names are
 * well under 100 characters; the cap bounds what a slow pattern costs on a
 * hostile exit's attribute, paid once per exit on every hub query.
 */
export const MAX_MATCHED_ISP_CHARS = 128;

/**
 * Budget of backtracking steps an `isp` pattern may be estimated to need on
 * one exit (see `patternCostProblem`): two open-ended repetitions over the
 * whole attribute. Measured here on 128 characters: `.*.*x` ~4 ms; the worst
 * accepted patterns found (`a?` 14 times then `a` 14 times, or `a{1,11}` four
 * times) 60–100 ms.
 */
export const MAX_ISP_MATCH_STEPS = MAX_MATCHED_ISP_CHARS ** 3;

/** Longest value quoted whole in a reason or problem; the rest is elided. */
const MAX_QUOTED_CHARS = 64;

/** Largest autonomous system number (32-bit ASNs, RFC 6793). */
const MAX_ASN = 4_294_967_295;

/** Parts of a `City; Region; Country` filter. */
const MAX_CITY_PARTS = 3;

const FLAG_POLICIES: readonly FlagPolicy[] = ["allow", "deny", "require"];

/** The three exit flags a policy can apply to. */
const FLAGS = ["proxy", "mobile", "hosting"] as const;
type Flag = typeof FLAGS[number];

/** Why filters cannot be used. */
export type FilterErrorCode = "invalid-regex" | "invalid-filter";

/** Filters that cannot be matched: a bad `isp` pattern (`invalid-regex`) or another bad field. */
export class FilterError extends P2proxyError<FilterErrorCode> {
  /** Every problem found, one sentence each, as `validateFilters` returns them. */
  readonly problems: readonly string[];

  /** The message joins `problems`, which come from `validateFilters`. */
  constructor(code: FilterErrorCode, problems: readonly string[]) {
    super(code, `Filters cannot be used: ${problems.join("; ")}.`);
    this.problems = problems;
  }
}

/** Whether an exit passes a server's filters and, if not, every reason why. */
export type FilterVerdict = { matches: true } | { matches: false; reasons: string[] };

/** Decides one exit against filters compiled by `createFilterMatcher`. */
export type FilterMatcher = (attrs: ExitAttributes) => FilterVerdict;

/** One filter: the reason an exit fails it, or undefined when it passes. */
type Check = (attrs: ExitAttributes) => string | undefined;

const MATCHES: FilterVerdict = Object.freeze({ matches: true });

/**
 * Compiles filters once (the `isp` pattern included) into a function that
 * judges exits.
 *
 * @example
 * ```ts
 * const match = createFilterMatcher({ ...NO_FILTERS, country: "NL" });
 * match({ country: "DE", bandwidthBps: 1e9, proxy: false, mobile: false, hosting: false });
 * // { matches: false, reasons: ['country "DE" is not "NL"'] }
 * ```
 * @throws {FilterError} when `validateFilters` finds a problem; the code is
 * `invalid-regex` when the `isp` pattern is one of them.
 */
export function createFilterMatcher(filters: ServerFilters): FilterMatcher {
  const ispProblem = ispPatternProblem(filters.isp);
  const problems = validateFilters(filters);
  if (problems.length > 0) {
    throw new FilterError(ispProblem === undefined ? "invalid-filter" : "invalid-regex", problems);
  }
  const checks = compileChecks(filters);
  return (attrs) => {
    const reasons: string[] = [];
    for (const check of checks) {
      const reason = check(attrs);
      if (reason !== undefined) reasons.push(reason);
    }
    return reasons.length === 0 ? MATCHES : { matches: false, reasons };
  };
}

/**
 * Like {@link createFilterMatcher}, but only says yes or no, stopping at the
 * first failing filter: the hub judges every candidate of every `FindNodes`
 * and needs no reasons.
 *
 * @example
 * ```ts
 * const passes = createFilterPredicate({ ...NO_FILTERS, country: "NL" });
 * passes({ country: "NL", bandwidthBps: 1e9, proxy: false, mobile: false, hosting: false }); // true
 * ```
 *
 * @throws {FilterError} when the filters cannot be used.
 */
export function createFilterPredicate(filters: ServerFilters): (attrs: ExitAttributes) => boolean {
  createFilterMatcher(filters);
  const checks = compileChecks(filters);
  return (attrs) => checks.every((check) => check(attrs) === undefined);
}

function compileChecks(filters: ServerFilters): Check[] {
  const checks: Check[] = [];
  if (filters.minBandwidthBps > 0) checks.push(bandwidthCheck(filters.minBandwidthBps));
  if (filters.country !== undefined) checks.push(countryCheck(filters.country));
  if (filters.city !== undefined) checks.push(...cityChecks(filters.city));
  if (filters.isp !== undefined) checks.push(ispCheck(filters.isp));
  if (filters.asn !== undefined) checks.push(asnCheck(filters.asn));
  for (const flag of FLAGS) {
    const check = flagCheck(flag, filters[flag]);
    if (check) checks.push(check);
  }
  return checks;
}

function bandwidthCheck(floorBps: number): Check {
  return (attrs) =>
    attrs.bandwidthBps >= floorBps
      ? undefined
      : `bandwidth ${describeBps(attrs.bandwidthBps)} is below the ${describeBps(floorBps)} floor`;
}

function countryCheck(filterCountry: string): Check {
  const wanted = canonicalCountry(filterCountry);
  return (attrs) => {
    if (attrs.country === undefined) return `country is unknown, ${quote(wanted)} required`;
    if (canonicalCountry(attrs.country) === wanted) return undefined;
    return `country ${quote(attrs.country)} is not ${quote(wanted)}`;
  };
}

/** Alpha-2 for anything `normalizeCountry` knows, else the upper-cased input, so unknown codes still compare. */
function canonicalCountry(country: string): string {
  return normalizeCountry(country) ?? country.trim().toUpperCase();
}

/** A `City; Region; Country` filter split into its non-empty parts. */
interface CityFilter {
  readonly city?: string;
  readonly region?: string;
  readonly country?: string;
}

function parseCityFilter(city: string): CityFilter {
  const [name = "", region = "", country = ""] = city.split(";").map((part) => part.trim());
  return {
    ...(name === "" ? {} : { city: name }),
    ...(region === "" ? {} : { region }),
    ...(country === "" ? {} : { country }),
  };
}

function cityChecks(filterCity: string): Check[] {
  const parts = parseCityFilter(filterCity);
  const checks: Check[] = [];
  if (parts.city !== undefined) checks.push(textCheck("city", parts.city));
  if (parts.region !== undefined) checks.push(textCheck("region", parts.region));
  if (parts.country !== undefined) checks.push(countryCheck(parts.country));
  return checks;
}

function textCheck(field: "city" | "region", wanted: string): Check {
  const folded = foldText(wanted);
  return (attrs) => {
    const actual = attrs[field];
    if (actual === undefined) return `${field} is unknown, ${quote(wanted)} required`;
    if (foldText(actual) === folded) return undefined;
    return `${field} ${quote(actual)} is not ${quote(wanted)}`;
  };
}

/** Case, accents and runs of spaces do not tell two place names apart. */
function foldText(text: string): string {
  return text.normalize("NFKD").replace(/\p{M}/gu, "").replace(/\s+/g, " ").trim().toLowerCase();
}

function ispCheck(pattern: string): Check {
  const regex = new RegExp(pattern, "i");
  return (attrs) => {
    if (attrs.isp === undefined) return `isp is unknown, ${regex} required`;
    if (regex.test(attrs.isp.slice(0, MAX_MATCHED_ISP_CHARS))) return undefined;
    return `isp ${quote(attrs.isp)} does not match ${regex}`;
  };
}

function asnCheck(wanted: number): Check {
  return (attrs) => {
    if (attrs.asn === undefined) return `asn is unknown, ${wanted} required`;
    return attrs.asn === wanted ? undefined : `asn ${attrs.asn} is not ${wanted}`;
  };
}

/** `allow` needs no check; `deny` and `require` are exact complements on `attrs[flag] === true`. */
function flagCheck(flag: Flag, policy: FlagPolicy): Check | undefined {
  if (policy === "deny") {
    return (attrs) =>
      attrs[flag] === true ? `exit has the ${flag} flag, but ${flag}=deny` : undefined;
  }
  if (policy === "require") {
    return (attrs) =>
      attrs[flag] === true ? undefined : `exit lacks the ${flag} flag, but ${flag}=require`;
  }
  return undefined;
}

/**
 * A value from config or the wire, JSON-quoted (no control characters reach a
 * log line) and cut to a readable length.
 */
function quote(value: string): string {
  return JSON.stringify(
    value.length > MAX_QUOTED_CHARS ? `${value.slice(0, MAX_QUOTED_CHARS)}…` : value,
  );
}

/** `formatBandwidth`, or the raw number when an exit reports something out of range. */
function describeBps(bps: number): string {
  const isFormattable = Number.isFinite(bps) && bps >= 0 && bps <= MAX_BANDWIDTH_BPS;
  return isFormattable ? formatBandwidth(bps) : `${bps}bps`;
}

/**
 * Every problem that keeps filters from being used, one sentence each
 * starting with the config key it is about (empty when the filters are fine).
 * Filters arriving from the wire are checked here before `createFilterMatcher`.
 */
export function validateFilters(filters: ServerFilters): string[] {
  return [
    bandwidthProblem(filters.minBandwidthBps),
    filters.country === undefined ? undefined : countryProblem("country", filters.country),
    filters.city === undefined ? undefined : cityProblem(filters.city),
    ispPatternProblem(filters.isp),
    filters.asn === undefined ? undefined : asnProblem(filters.asn),
    ...FLAGS.map((flag) => flagPolicyProblem(flag, filters[flag])),
  ].filter((problem): problem is string => problem !== undefined);
}

function bandwidthProblem(bps: number): string | undefined {
  if (Number.isSafeInteger(bps) && bps >= 0 && bps <= MAX_BANDWIDTH_BPS) return undefined;
  return `min_bandwidth ${bps} is not a whole number of bits per second from 0 to ` +
    `${formatBandwidth(MAX_BANDWIDTH_BPS)}`;
}

function countryProblem(key: string, country: string): string | undefined {
  if (normalizeCountry(country) !== undefined) return undefined;
  const suggestions = suggestCountries(country);
  const hint = suggestions.length === 0
    ? "use an ISO 3166-1 alpha-2 or alpha-3 code or an English name"
    : `did you mean ${suggestions.map((name) => `"${name}"`).join(" or ")}?`;
  return `${key} ${quote(country)} is not a known country: ${hint}`;
}

function cityProblem(city: string): string | undefined {
  if (city.trim() === "") return `city is empty: remove it or give a name`;
  if (city.split(";").length > MAX_CITY_PARTS) {
    return `city ${
      quote(city)
    } has more than ${MAX_CITY_PARTS} parts: write "City", or "City; Region; Country"`;
  }
  const parts = parseCityFilter(city);
  if (Object.keys(parts).length === 0) {
    return `city ${quote(city)} names no city, region or country: give at least one part`;
  }
  return parts.country === undefined ? undefined : countryProblem("city", parts.country);
}

function asnProblem(asn: number): string | undefined {
  if (Number.isInteger(asn) && asn >= 0 && asn <= MAX_ASN) return undefined;
  return `asn ${asn} is not an AS number: give a whole number from 0 to ${MAX_ASN}`;
}

function flagPolicyProblem(flag: Flag, policy: FlagPolicy): string | undefined {
  if (FLAG_POLICIES.includes(policy)) return undefined;
  return `${flag} ${quote(String(policy))} is not a policy: use allow, deny or require`;
}

/** Why an `isp` pattern is unusable: too long, not a regex, or too costly to match. */
function ispPatternProblem(pattern: string | undefined): string | undefined {
  if (pattern === undefined) return undefined;
  if (pattern === "") return `isp is empty: remove it or give a pattern`;
  if (pattern.length > MAX_ISP_PATTERN_CHARS) {
    return `isp pattern ${quote(pattern)} is longer than ${MAX_ISP_PATTERN_CHARS} ` +
      "characters: shorten it";
  }
  try {
    new RegExp(pattern, "i");
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return `isp pattern ${quote(pattern)} is not a valid regular expression (${detail}): fix it`;
  }
  return patternCostProblem(pattern);
}

/**
 * A conservative guard against catastrophic backtracking. A repeated group may
 * not itself repeat or branch (`(a+)+`, `(a|a)*`: exponential), and the
 * estimated steps of a failing match, the attribute length times the choices
 * of every quantifier and alternation (an open-ended one counting as the
 * attribute length), must stay within {@link MAX_ISP_MATCH_STEPS}. It may
 * refuse a harmless pattern; it must not accept an exponential one.
 */
function patternCostProblem(pattern: string): string | undefined {
  const scan = scanPattern(pattern);
  if (scan.nestedRepetition) {
    const why = "repeats a group that itself repeats or has alternatives, which can take " +
      "exponential time: rewrite it without the outer repetition";
    return `isp pattern ${quote(pattern)} ${why}`;
  }
  if (scan.estimatedSteps > MAX_ISP_MATCH_STEPS) {
    return `isp pattern ${quote(pattern)} has too many repetitions or optional parts to match ` +
      "in bounded time: use fewer (e.g. at most two .* or +), or list names with |";
  }
  return undefined;
}

interface PatternScan {
  readonly estimatedSteps: number;
  readonly nestedRepetition: boolean;
}

/** What the scan knows about the group it is in. */
interface GroupScan {
  /** Holds a quantifier or an alternation: repeating it multiplies choices. */
  risky: boolean;
  alternatives: number;
}

/** Walks a (valid) pattern, multiplying the choices of its quantifiers and alternations. */
function scanPattern(pattern: string): PatternScan {
  const groups: GroupScan[] = [{ risky: false, alternatives: 1 }];
  const current = (): GroupScan => groups[groups.length - 1] ?? { risky: false, alternatives: 1 };
  let estimatedSteps = MAX_MATCHED_ISP_CHARS;
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i];
    const quantifier = quantifierAt(pattern, i);
    if (char === "\\") {
      i++;
    } else if (char === "[") {
      i = endOfCharacterClass(pattern, i);
    } else if (char === "(") {
      groups.push({ risky: false, alternatives: 1 });
      i = endOfGroupPrefix(pattern, i);
    } else if (char === ")" && groups.length > 1) {
      const group = groups.pop() ?? { risky: false, alternatives: 1 };
      estimatedSteps *= group.alternatives;
      const repeatsGroup = (quantifierAt(pattern, i + 1)?.maxRepeats ?? 1) > 1;
      if (group.risky && repeatsGroup) return { estimatedSteps, nestedRepetition: true };
      if (group.risky) current().risky = true;
    } else if (char === "|") {
      current().alternatives++;
      current().risky = true;
    } else if (quantifier) {
      estimatedSteps *= quantifier.choices;
      if (quantifier.choices > 1) current().risky = true;
      i += quantifier.length - 1;
    }
  }
  return { estimatedSteps: estimatedSteps * current().alternatives, nestedRepetition: false };
}

/** A quantifier in a pattern: how many ways it can match, how often at most, how long it is. */
interface Quantifier {
  readonly choices: number;
  readonly maxRepeats: number;
  readonly length: number;
}

/** The quantifier (`?`, `*`, `+`, `{n}`, `{n,}`, `{n,m}`, with a lazy `?`) starting at `index`. */
function quantifierAt(pattern: string, index: number): Quantifier | undefined {
  const found = /^(?:[*+?]|\{(\d+)(?:(,)(\d*))?\})\??/.exec(pattern.slice(index, index + 32));
  if (!found) return undefined;
  const [text, min, comma, max] = found;
  const open = MAX_MATCHED_ISP_CHARS;
  if (text.startsWith("?")) return { choices: 2, maxRepeats: 1, length: text.length };
  if (min === undefined) return { choices: open, maxRepeats: Infinity, length: text.length };
  if (comma === undefined) return { choices: 1, maxRepeats: Number(min), length: text.length };
  if (max === undefined || max === "") {
    return { choices: open, maxRepeats: Infinity, length: text.length };
  }
  const choices = Math.min(open, Math.max(1, Number(max) - Number(min) + 1));
  return { choices, maxRepeats: Number(max), length: text.length };
}

/** Index of the `]` closing the class opened at `start` (escapes and a leading `]` included). */
function endOfCharacterClass(pattern: string, start: number): number {
  let i = start + 1;
  if (pattern[i] === "^") i++;
  if (pattern[i] === "]") i++;
  for (; i < pattern.length; i++) {
    if (pattern[i] === "\\") i++;
    else if (pattern[i] === "]") return i;
  }
  return pattern.length;
}

/** Index of the last character of a group opener: `(`, `(?:`, `(?=`, `(?!`, `(?<=`, `(?<!`, `(?<name>`. */
function endOfGroupPrefix(pattern: string, open: number): number {
  if (pattern[open + 1] !== "?") return open;
  const kind = pattern[open + 2];
  if (kind === ":" || kind === "=" || kind === "!") return open + 2;
  if (kind !== "<") return open + 1;
  const next = pattern[open + 3];
  if (next === "=" || next === "!") return open + 3;
  const close = pattern.indexOf(">", open + 3);
  return close === -1 ? open + 2 : close;
}

/**
 * One line for logs, in config terms, listing only filters that restrict
 * something: `country=NL min_bandwidth=50Mbps hosting=deny`, or `no filters`.
 */
export function describeFilters(filters: ServerFilters): string {
  const parts: string[] = [];
  if (filters.country !== undefined) parts.push(`country=${quoteIfNeeded(filters.country)}`);
  if (filters.city !== undefined) parts.push(`city=${quoteIfNeeded(filters.city)}`);
  if (filters.isp !== undefined) parts.push(`isp=${quoteIfNeeded(`/${filters.isp}/i`)}`);
  if (filters.asn !== undefined) parts.push(`asn=${filters.asn}`);
  if (filters.minBandwidthBps !== 0) {
    parts.push(`min_bandwidth=${describeBps(filters.minBandwidthBps)}`);
  }
  for (const flag of FLAGS) {
    if (filters[flag] !== "allow") parts.push(`${flag}=${filters[flag]}`);
  }
  return parts.length === 0 ? "no filters" : parts.join(" ");
}

/** Values with spaces, quotes or `=` are JSON-quoted so the line stays splittable. */
function quoteIfNeeded(value: string): string {
  return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
}
