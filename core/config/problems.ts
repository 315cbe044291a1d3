/**
 * Config problems and the error that carries them. A loader collects every
 * problem it finds and throws once, so the user fixes a file in one pass
 * (all problems are reported at once: docs/config-reference.md).
 *
 * @module
 */
import { P2proxyError } from "../errors.ts";

/** One thing wrong with a configuration. */
export interface ConfigProblem {
  /**
   * Where: a config path such as `servers[1].country`, the name of an
   * environment variable (`P2PROXY_METRICS_PORT`), a command-line flag
   * (`--log-level`), or `""` for the file as a whole.
   */
  readonly path: string;
  /** What is wrong and what to do, one or two sentences. */
  readonly message: string;
  /** 1-based line in the file, when the problem sits at a known place in it. */
  readonly line?: number;
  /** 1-based column on {@link line}, when known (syntax errors point at a character). */
  readonly column?: number;
}

/**
 * Why a configuration was refused: `syntax` (not valid YAML/JSON),
 * `invalid` (valid syntax, wrong content), `unreadable` (the CLI could not
 * read the file; the core never reads files itself).
 */
export type ConfigErrorCode = "invalid" | "unreadable" | "syntax";

/**
 * A configuration that cannot be used. `problems` lists every problem found;
 * the message renders them all (see {@link formatProblems}).
 *
 * @example
 * ```ts
 * try {
 *   loadProxyConfig(text, { source: "Config.yaml" });
 * } catch (error) {
 *   if (error instanceof ConfigError) console.error(error.message); // every problem, one per line
 * }
 * ```
 */
export class ConfigError extends P2proxyError<ConfigErrorCode> {
  /** Every problem found, in file order where lines are known. */
  readonly problems: readonly ConfigProblem[];
  /** The file name (or other label) the problems refer to. */
  readonly source: string;

  /** Builds the error; the message is {@link formatProblems} of `problems`. */
  constructor(
    code: ConfigErrorCode,
    source: string,
    problems: readonly ConfigProblem[],
    options?: ErrorOptions,
  ) {
    super(code, formatProblems(problems, source), options);
    this.problems = problems;
    this.source = source;
  }
}

/**
 * Renders problems (or warnings) for a person: a header naming the source,
 * then one line per problem with its line (and column, when known) and path.
 *
 * @example
 * ```ts
 * formatProblems([{ path: "servers[0].port", message: "Must be at most 65535, got 70000.", line: 4 }], "Config.yaml");
 * // Config.yaml has 1 problem:
 * //   - line 4, servers[0].port: Must be at most 65535, got 70000.
 * ```
 */
export function formatProblems(
  problems: readonly ConfigProblem[],
  source: string,
  noun: "problem" | "warning" = "problem",
): string {
  const count = problems.length === 1 ? `1 ${noun}` : `${problems.length} ${noun}s`;
  const lines = problems.map((problem) => `  - ${locationOf(problem)}${problem.message}`);
  return [`${source} has ${count}:`, ...lines].join("\n");
}

function locationOf(problem: ConfigProblem): string {
  const parts: string[] = [];
  if (problem.line !== undefined) {
    parts.push(
      problem.column === undefined
        ? `line ${problem.line}`
        : `line ${problem.line}, column ${problem.column}`,
    );
  }
  if (problem.path !== "") parts.push(problem.path);
  return parts.length === 0 ? "" : `${parts.join(", ")}: `;
}

/** One step of a config path: an object key or a list index. */
export type PathSegment = string | number;

/** Keys that can be written after a dot; anything else is written as `["key"]`. */
const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/**
 * Writes a path the way a user reads it: `servers[1].pool.max_total`,
 * `plugins["@p2proxy/sticky-file"]`.
 */
export function formatPath(segments: readonly PathSegment[]): string {
  let text = "";
  for (const segment of segments) {
    if (typeof segment === "number") text += `[${segment}]`;
    else if (PLAIN_KEY.test(segment)) text += text === "" ? segment : `.${segment}`;
    else text += `[${JSON.stringify(segment)}]`;
  }
  return text;
}

/** Longest quoted input echoed in a message; a message is a line, not a dump. */
const MAX_QUOTED_CHARS = 60;

/** Quotes a user's string for a message, shortened when long. */
export function quote(text: string): string {
  const shown = text.length > MAX_QUOTED_CHARS ? `${text.slice(0, MAX_QUOTED_CHARS)}…` : text;
  return JSON.stringify(shown);
}

/** Describes any parsed value for a message: `the string "x"`, `the number 5`, `a list`. */
export function describeValue(value: unknown): string {
  if (value === null) return "an empty value";
  if (value === undefined) return "nothing";
  if (typeof value === "string") return `the string ${quote(value)}`;
  if (typeof value === "number" || typeof value === "bigint") return `the number ${value}`;
  if (typeof value === "boolean") return `the boolean ${value}`;
  if (Array.isArray(value)) return "a list";
  if (value instanceof Date) return `the date ${value.toISOString()}`;
  if (value instanceof Uint8Array) return "binary data";
  if (typeof value === "object") return "a mapping";
  return `a ${typeof value}`;
}

/** Describes only the kind of a value (`a string`, `a number`): for secrets, which are never echoed. */
export function describeKind(value: unknown): string {
  if (value === null) return "an empty value";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return typeof value === "number" || typeof value === "bigint" ? "a number" : `a ${typeof value}`;
}
