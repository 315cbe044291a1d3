/**
 * "Did you mean …?" hints for misspelt config keys and values.
 *
 * @module
 */

/**
 * Edit distance with adjacent transpositions (optimal string alignment):
 * `prot` → `port` is one edit, as a typist would count it.
 *
 * @example
 * ```ts
 * editDistance("min_bandwith", "min_bandwidth"); // 1
 * ```
 */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  // Three rolling rows: the transposition step looks two rows back.
  let twoBack: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(
        (previous[j] ?? 0) + 1,
        (current[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, (twoBack[j - 2] ?? 0) + 1);
      }
      current.push(best);
    }
    twoBack = previous;
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** Longest input considered; past this a key is garbage, not a typo, and the O(n·m) table is not worth it. */
const MAX_COMPARED_CHARS = 64;

/**
 * Folds the spellings people mix up: case, `-` vs `_`, and camelCase
 * (`minBandwidth` and `min-bandwidth` both become `min_bandwidth`).
 */
function fold(text: string): string {
  return text.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase().replace(/[-\s]/g, "_");
}

/**
 * The candidate closest to `input`, if one is close enough to be a likely
 * typo: at most one edit per three characters (at least one edit), after
 * folding case, dashes and camelCase. Ties go to the earlier candidate.
 *
 * @example
 * ```ts
 * closestMatch("prot", ["protocol", "port", "bind"]); // "port"
 * closestMatch("zzz", ["port"]); // undefined
 * ```
 */
export function closestMatch(input: string, candidates: Iterable<string>): string | undefined {
  if (input.length === 0 || input.length > MAX_COMPARED_CHARS) return undefined;
  const folded = fold(input);
  const limit = Math.max(1, Math.floor(folded.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    if (candidate === input) continue;
    const distance = editDistance(folded, fold(candidate));
    if (distance <= limit && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/**
 * A sentence tail for a message: `` Did you mean `port`?`` (leading space
 * included), or `""` when nothing is close.
 */
export function didYouMean(input: string, candidates: Iterable<string>): string {
  const match = closestMatch(input, candidates);
  return match === undefined ? "" : ` Did you mean \`${match}\`?`;
}
