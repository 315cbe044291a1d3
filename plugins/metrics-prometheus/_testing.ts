/**
 * Test helpers: reading Prometheus text exposition back into numbers.
 *
 * @module
 */

/** Samples of an exposition, keyed by `name{label="value",…}` with labels sorted by name. */
export type Samples = ReadonlyMap<string, number>;

/** Parses the sample lines of a text exposition (comments skipped). */
export function parseSamples(text: string): Samples {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    samples.set(normaliseSeries(line.slice(0, space)), Number(line.slice(space + 1)));
  }
  return samples;
}

/** Names declared by `# TYPE` lines: present even for a labelled metric with no sample yet. */
export function declaredNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const match of text.matchAll(/^# TYPE (\S+) \S+$/gm)) names.add(match[1]!);
  return names;
}

/** The key of a series in {@link parseSamples}'s map. */
export function seriesKey(name: string, labels: Readonly<Record<string, string>> = {}): string {
  const pairs = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  if (pairs.length === 0) return name;
  return `${name}{${pairs.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(",")}}`;
}

/** The value of one series, failing loudly when it is absent. */
export function valueOf(
  samples: Samples,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  const key = seriesKey(name, labels);
  const value = samples.get(key);
  if (value === undefined) {
    throw new Error(`No sample ${key}; have: ${[...samples.keys()].join(", ")}`);
  }
  return value;
}

function normaliseSeries(series: string): string {
  const brace = series.indexOf("{");
  if (brace < 0) return series;
  const labels: Record<string, string> = {};
  for (const match of series.slice(brace + 1, -1).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
    labels[match[1]!] = JSON.parse(`"${match[2]!}"`);
  }
  return seriesKey(series.slice(0, brace), labels);
}
