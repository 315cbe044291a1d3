/**
 * Country names and codes (the `country` filter): ISO 3166-1 alpha-2, alpha-3 or
 * an English name, normalised to alpha-2. The table is `i18n-iso-countries`
 * with only its English locale registered.
 *
 * Names are compared case-insensitively, ignoring accents, runs of spaces and
 * the kind of apostrophe, so `cote d’ivoire` finds `Côte d'Ivoire`. A name that
 * the table gives to two countries (`Congo`) is ambiguous and normalises to
 * nothing; `suggestCountries` then offers both.
 *
 * @module
 */
// The package's browser entry: its node entry would register all ~80 locales.
import countries from "i18n-iso-countries/index.js";
import english from "i18n-iso-countries/langs/en.json" with { type: "json" };

countries.registerLocale(english);

const LOCALE = "en";

/** Longer input is not a country; bounds the work `suggestCountries` does on hostile input. */
const MAX_COUNTRY_INPUT_CHARS = 100;

/** Default length of a "did you mean" list: a hint, not a menu. */
const DEFAULT_SUGGESTIONS = 3;

/** Marks a folded name that the table gives to more than one country. */
const AMBIGUOUS = Symbol("ambiguous");

/** alpha-2 (upper case) → alpha-3 (upper case). */
const ALPHA2_TO_ALPHA3: Readonly<Record<string, string>> = { ...countries.getAlpha2Codes() };

/** alpha-3 (upper case) → alpha-2 (upper case). */
const ALPHA3_TO_ALPHA2: Readonly<Record<string, string>> = { ...countries.getAlpha3Codes() };

/** Every English name and alias per alpha-2; the first is the official one. */
const NAMES_BY_ALPHA2: Readonly<Record<string, readonly string[]>> = Object.fromEntries(
  Object.entries(countries.getNames(LOCALE, { select: "all" })).map(([code, names]) => [
    code,
    [...names],
  ]),
);

/** Folded name → alpha-2, or AMBIGUOUS when two countries share it. */
const ALPHA2_BY_FOLDED_NAME: ReadonlyMap<string, string | typeof AMBIGUOUS> = indexNames();

function indexNames(): Map<string, string | typeof AMBIGUOUS> {
  const index = new Map<string, string | typeof AMBIGUOUS>();
  for (const [alpha2, names] of Object.entries(NAMES_BY_ALPHA2)) {
    for (const name of names) {
      const key = foldName(name);
      const known = index.get(key);
      index.set(key, known === undefined || known === alpha2 ? alpha2 : AMBIGUOUS);
    }
  }
  return index;
}

/** The form names are compared in: lower case, no accents, single spaces, straight apostrophes. */
function foldName(name: string): string {
  return name
    .normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .replace(/[\u2018\u2019\u02bc`´]/g, "'")
    .replace(/\s+/g, " ")
    .trim()
    .toLowerCase();
}

function hasOwn(record: Readonly<Record<string, string>>, key: string): boolean {
  return Object.hasOwn(record, key);
}

/**
 * The ISO 3166-1 alpha-2 code (upper case) for an alpha-2 or alpha-3 code in
 * any case, or an English short or official name; `undefined` when the input
 * is unknown or names more than one country.
 *
 * @example
 * ```ts
 * normalizeCountry("The Netherlands"); // "NL"
 * normalizeCountry("deu"); // "DE"
 * normalizeCountry("Atlantis"); // undefined
 * ```
 */
export function normalizeCountry(input: string): string | undefined {
  if (input.length > MAX_COUNTRY_INPUT_CHARS) return undefined;
  const trimmed = input.trim();
  const upper = trimmed.toUpperCase();
  if (/^[A-Z]{2}$/.test(upper) && hasOwn(ALPHA2_TO_ALPHA3, upper)) return upper;
  if (/^[A-Z]{3}$/.test(upper) && hasOwn(ALPHA3_TO_ALPHA2, upper)) return ALPHA3_TO_ALPHA2[upper];
  const folded = foldName(trimmed);
  const found = ALPHA2_BY_FOLDED_NAME.get(folded) ??
    ALPHA2_BY_FOLDED_NAME.get(folded.replace(/^the /, ""));
  return typeof found === "string" ? found : undefined;
}

/**
 * The official English name of a country given its alpha-2 code (any case),
 * e.g. `"NL"` → `"Netherlands"`; `undefined` for an unknown code.
 */
export function countryName(alpha2: string): string | undefined {
  const code = alpha2.trim().toUpperCase();
  if (!hasOwn(ALPHA2_TO_ALPHA3, code)) return undefined;
  return NAMES_BY_ALPHA2[code]?.[0];
}

/**
 * Official English names of the countries whose name is closest to
 * `input` (edit distance, or the name starts with the input), best first, for
 * a "did you mean" hint. Empty when nothing is close.
 *
 * @example
 * ```ts
 * suggestCountries("Germny"); // ["Germany"]
 * ```
 */
export function suggestCountries(input: string, max: number = DEFAULT_SUGGESTIONS): string[] {
  if (input.length > MAX_COUNTRY_INPUT_CHARS || !(max > 0)) return [];
  const folded = foldName(input);
  if (folded === "") return [];
  const limit = allowedDistance(folded);
  const best = new Map<string, number>();
  for (const [alpha2, names] of Object.entries(NAMES_BY_ALPHA2)) {
    const distance = Math.min(...names.map((name) => nameDistance(folded, name, limit)));
    if (distance <= limit) best.set(alpha2, distance);
  }
  return [...best]
    .map(([alpha2, distance]) => ({ name: NAMES_BY_ALPHA2[alpha2]?.[0] ?? alpha2, distance }))
    .sort((a, b) => a.distance - b.distance || a.name.localeCompare(b.name))
    .slice(0, Math.floor(max))
    .map(({ name }) => name);
}

/** How many edits still count as "close": one per four letters, at least one, at most three. */
function allowedDistance(folded: string): number {
  return Math.min(3, Math.max(1, Math.floor(folded.length / 4)));
}

/**
 * Distance from the folded input to a name: 0.5 when the name starts with a
 * typed prefix of three or more letters (ranked just after exact hits), else
 * the edit distance, capped at `limit + 1`.
 */
function nameDistance(folded: string, name: string, limit: number): number {
  const target = foldName(name);
  if (target === folded) return 0;
  if (folded.length >= 3 && target.startsWith(folded)) return 0.5;
  return boundedEditDistance(folded, target, limit);
}

/**
 * Edit distance counting a swap of neighbours as one edit (optimal string
 * alignment: `Frnace` is one edit from `France`), or `limit + 1` as soon as it
 * must exceed `limit`.
 */
function boundedEditDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let beforePrevious: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(
        (previous[j] ?? i) + 1,
        (current[j - 1] ?? j) + 1,
        (previous[j - 1] ?? 0) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        value = Math.min(value, (beforePrevious[j - 2] ?? 0) + 1);
      }
      current.push(value);
    }
    if (Math.min(...current) > limit && Math.min(...previous) > limit) return limit + 1;
    beforePrevious = previous;
    previous = current;
  }
  return Math.min(previous[b.length] ?? 0, limit + 1);
}
