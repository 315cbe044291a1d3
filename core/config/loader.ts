/**
 * The generic config loader: text → layered raw object → validated config,
 * or one {@link ConfigError} that lists every problem.
 *
 * Layers, highest first (docs/config-reference.md): overrides (command-line flags) >
 * environment (`P2PROXY_*` only) > file > defaults. The core never reads a
 * file or the process environment: the CLI passes the text and a plain env object.
 *
 * @module
 */
import type { z } from "zod";
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { closestMatch } from "./did_you_mean.ts";
import { keysAt, requiredKeysAt, sectionsAt } from "./_schema_walk.ts";
import {
  ConfigError,
  type ConfigProblem,
  describeKind,
  describeValue,
  formatPath,
  type PathSegment,
  quote,
} from "./problems.ts";

/** What the caller knows besides the text. */
export interface LoadOptions {
  /** File name, for messages; a name ending in `.json` is parsed as JSON, anything else as YAML. */
  readonly source: string;
  /** How to parse the text when the source's name does not say: `json`, or `yaml` (default). */
  readonly format?: "yaml" | "json";
  /** Environment variables; only `P2PROXY_*` names are read. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Values from command-line flags, keyed by snake_case config key (`log_level`). */
  readonly overrides?: Readonly<Record<string, unknown>>;
}

/** Every config carries the non-fatal notes the loader made (legacy keys it ignored, …). */
export interface ConfigNotes {
  /** Non-fatal problems: the CLI logs them as warnings. */
  readonly warnings: readonly ConfigProblem[];
}

/** The prefix of every environment variable p2proxy reads. */
export const ENV_PREFIX = "P2PROXY_";

/** How an environment variable's text becomes a config value. */
export type EnvKind = "string" | "integer" | "number" | "boolean" | "list";

/** One environment variable and the top-level key it sets. */
export interface EnvBinding {
  /** The variable, e.g. `P2PROXY_METRICS_PORT`. */
  readonly variable: string;
  /** The config key it sets, e.g. `metrics_port`. */
  readonly key: string;
  /** How the variable's text is read. */
  readonly kind: EnvKind;
}

/** The binding for `key`: `P2PROXY_<UPPER_SNAKE_KEY>` unless another variable name is given. */
export function envBinding(key: string, kind: EnvKind, variable?: string): EnvBinding {
  return { variable: variable ?? `${ENV_PREFIX}${key.toUpperCase()}`, key, kind };
}

/** The command-line flag that carries a config key (`log_level` → `--log-level`). */
export function flagOf(key: string): string {
  return `--${key.replaceAll("_", "-")}`;
}

/** Reports a problem at a path of the layered raw config. */
export type Report = (path: readonly PathSegment[], message: string) => void;

/** Records what the legacy pass changed, so problems point at what the user wrote. */
export interface LegacyRecorder {
  /** Problems at `canonical` (or below it) are shown at `original`. */
  mapPath(canonical: readonly PathSegment[], original: readonly PathSegment[]): void;
  /** Reports an error at a path of the file (the config is refused). */
  readonly problem: Report;
  /** Reports a warning at a path of the file (the config still loads). */
  readonly warn: Report;
}

/** What the loader needs to know about one role. */
export interface RoleSpec<T> {
  /** `proxy`, `exit` or `hub`, for messages. */
  readonly role: string;
  /** Validates the layered raw object (snake_case) and produces the config (without notes). */
  readonly schema: z.ZodType<T>;
  /** Environment variables this role reads; earlier bindings of one key win over later ones. */
  readonly env: readonly EnvBinding[];
  /** Other names a top-level key may have (`bitping_api_key` → `api_key`), for overrides. */
  readonly aliases?: Readonly<Record<string, string>>;
  /** Rewrites the anchor's legacy spellings in the file's object, in place. */
  readonly legacy?: (raw: Record<string, unknown>, recorder: LegacyRecorder) => void;
  /** Checks that need several keys at once; runs on the raw object even when fields are invalid. */
  readonly check?: (raw: Readonly<Record<string, unknown>>, report: Report) => void;
  /**
   * Top-level keys of other roles that this role refuses, each with the
   * message that says why (the auth service has no `metrics_port`): clearer
   * than "unknown key" for a key the user has seen elsewhere.
   */
  readonly foreignKeys?: Readonly<Record<string, string>>;
}

/** Longest accepted config text: 1 MiB, far above any real config, far below a mistaken dump. */
const MAX_CONFIG_CHARS = 1 << 20;

/** Aliases a YAML document may expand; bounds "billion laughs" documents. */
const MAX_YAML_ALIASES = 100;

/** Keys whose empty (null) value still means "present but empty": pinning to nothing is a mistake. */
const NULL_MEANS_EMPTY_LIST = new Set(["destination_peers", "users"]);

/** Top-level keys whose contents are passed through, not cleaned (plugins own their options). */
const PASS_THROUGH_KEYS = new Set(["plugins", "auth"]);

/** Top-level keys with this prefix are ignored: a place for YAML anchors, as in Docker Compose. */
const EXTENSION_KEY_PREFIX = "x-";

/** Where a top-level key's value came from, when not from the file. */
type Origin = { readonly kind: "env"; readonly name: string } | {
  readonly kind: "flag";
  readonly name: string;
};

/** A problem before it is placed: a path in the layered config. */
interface PendingProblem {
  readonly path: readonly PathSegment[];
  readonly message: string;
}

/**
 * Loads a config for one role: parses `text`, applies legacy spellings, the
 * environment and the overrides, validates, and returns the config with its
 * notes. Throws {@link ConfigError} (`syntax` or `invalid`) listing every
 * problem found.
 */
export function loadConfig<T>(
  spec: RoleSpec<T>,
  text: string,
  options: LoadOptions,
): T & ConfigNotes {
  const document = readConfigDocument(text, options.source, options.format);
  const placer = new ProblemPlacer(document.locate);
  const warnings: ConfigProblem[] = [];
  const file = document.value;
  spec.legacy?.(file, {
    mapPath: (canonical, original) => placer.mapPath(canonical, original),
    problem: (path, message) => placer.add({ path, message }),
    warn: (path, message) => warnings.push(placer.place({ path, message })),
  });
  const layered = { ...file };
  applyEnv(spec, options.env ?? {}, layered, placer);
  applyOverrides(spec, options.overrides ?? {}, layered, placer);
  resolvePortShorthand(layered, placer, warnings);

  const result = spec.schema.safeParse(layered, { reportInput: true });
  if (!result.success) {
    for (const issue of result.error.issues) {
      for (const problem of problemsOfIssue(spec, issue)) placer.add(problem);
    }
  }
  spec.check?.(layered, (path, message) => placer.add({ path, message }));
  const problems = placer.problems();
  if (problems.length > 0 || !result.success) {
    throw new ConfigError("invalid", options.source, problems);
  }
  return { ...result.data, warnings };
}

/** A config file's top-level mapping before any role's rules, and a way to find a path's line. */
export interface ConfigDocument {
  /** Parsed; `x-` keys dropped and empty values cleaned, as every role reads it. Yours to mutate. */
  readonly value: Record<string, unknown>;
  /** The 1-based line of a path in the text (undefined for the root or an unknown path). */
  readonly locate: (path: readonly PathSegment[]) => number | undefined;
}

/**
 * Parses a config text into its top-level mapping, as every role reads it.
 *
 * @throws {ConfigError} `syntax` (with line and column) for text that is not
 * YAML/JSON, `invalid` when the document is not a mapping.
 * @example
 * ```ts
 * readConfigDocument("log_level: debug\nx-anchor: 1\n", "Hub.yaml").value; // { log_level: "debug" }
 * ```
 */
export function readConfigDocument(
  text: string,
  source: string,
  format?: "yaml" | "json",
): ConfigDocument {
  const parsed = parseText(text, source, format);
  const value = rootMapping(parsed.value, source);
  for (const key of Object.keys(value)) {
    if (key.startsWith(EXTENSION_KEY_PREFIX)) delete value[key];
  }
  cleanNulls(value);
  return { value, locate: parsed.locate };
}

/** How the top-level keys of a file fit one role, values aside. */
export interface KeyFit {
  /** The role, as its spec names it. */
  readonly role: string;
  /** Top-level keys of the file the role does not take, as written. */
  readonly unknown: readonly string[];
  /** Top-level keys the role requires that the file (and its legacy spellings) lacks. */
  readonly missing: readonly string[];
}

/**
 * Which top-level keys of `file` (a {@link ConfigDocument} value) `spec`
 * would refuse or miss, after its legacy spellings are applied. Values are
 * not looked at: this tells which role a file is for, not whether it is right.
 *
 * @example
 * ```ts
 * keyFit(PROXY_ROLE, { log_level: "debug" }); // { role: "proxy", unknown: [], missing: ["servers"] }
 * ```
 */
export function keyFit<T>(spec: RoleSpec<T>, file: Readonly<Record<string, unknown>>): KeyFit {
  const copy = structuredClone(file) as Record<string, unknown>;
  const ignore = () => {};
  spec.legacy?.(copy, { mapPath: ignore, problem: ignore, warn: ignore });
  const known = new Set(keysAt(spec.schema, []));
  // A legacy key the role renamed is gone from `copy`: report what the file said only if unknown.
  const unknown = Object.keys(copy).filter((key) => !known.has(key));
  const missing = requiredKeysAt(spec.schema, []).filter((key) => !Object.hasOwn(copy, key));
  return { role: spec.role, unknown, missing };
}

// ---------------------------------------------------------------------------
// Parsing

/** The parsed text and a way to find the line of a path in it. */
interface ParsedText {
  readonly value: unknown;
  readonly locate: (path: readonly PathSegment[]) => number | undefined;
}

function parseText(text: string, source: string, format?: "yaml" | "json"): ParsedText {
  if (text.length > MAX_CONFIG_CHARS) {
    throw new ConfigError("syntax", source, [{
      path: "",
      message: `The file is ${text.length} characters long; a configuration is at most ` +
        `${MAX_CONFIG_CHARS}: check that this is the right file.`,
    }]);
  }
  const body = text.startsWith("\uFEFF") ? text.slice(1) : text;
  const json = format === "json" || source.toLowerCase().endsWith(".json");
  return json ? parseJson(body, source) : parseYaml(body, source);
}

function parseYaml(text: string, source: string): ParsedText {
  const lineCounter = new LineCounter();
  let value: unknown;
  let document;
  try {
    // logLevel "error": the parser's own warnings would go to the console; problems are reported here.
    document = parseDocument(text, {
      lineCounter,
      merge: true,
      prettyErrors: true,
      logLevel: "error",
    });
    if (document.errors.length > 0) {
      throw new ConfigError(
        "syntax",
        source,
        document.errors.map((error) => ({
          path: "",
          message: yamlErrorMessage(error.message),
          ...(error.linePos?.[0]
            ? { line: error.linePos[0].line, column: error.linePos[0].col }
            : {}),
        })),
      );
    }
    value = document.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError("syntax", source, [{
      path: "",
      message: `The file cannot be read as YAML: ${errorText(error)}.`,
    }], { cause: error });
  }
  const contents = document.contents;
  return {
    value,
    locate: (path) => locateInDocument(contents, path, lineCounter),
  };
}

function parseJson(text: string, source: string): ParsedText {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const message = errorText(error);
    // The position is shown as the problem's line and column, and V8's quote of the text (which
    // may be many lines) is no help in a one-line message: neither is repeated.
    const shortened = message
      .replace(/ (?:in JSON )?at position \d+(?: \(line \d+ column \d+\))?$/, "")
      .replace(/, ".*" is not valid JSON$/s, "");
    throw new ConfigError("syntax", source, [{
      path: "",
      message: `The file is not valid JSON: ${shortened}.`,
      ...lineOfJsonError(text, message),
    }], { cause: error });
  }
  // JSON is YAML 1.2, so the YAML parser finds lines for problems; if it
  // disagrees with JSON.parse, problems just have no line.
  try {
    const lineCounter = new LineCounter();
    const document = parseDocument(text, { lineCounter, logLevel: "error" });
    const contents = document.errors.length === 0 ? document.contents : null;
    return { value, locate: (path) => locateInDocument(contents, path, lineCounter) };
  } catch {
    return { value, locate: () => undefined };
  }
}

/** The first line of a yaml error, without the position the problem's `line` already carries. */
function yamlErrorMessage(message: string): string {
  const first = message.split("\n")[0] ?? message;
  const withoutPosition = first.replace(/ at line \d+, column \d+:?$/, "");
  return `Invalid YAML: ${withoutPosition}${/[.?!]$/.test(withoutPosition) ? "" : "."}`;
}

/**
 * Where JSON.parse stopped: its "(line L column C)", else its "position N" (or the end, for
 * "end of JSON input") counted out in `text`; nothing for V8's "Unexpected token", which has none.
 */
function lineOfJsonError(text: string, message: string): { line?: number; column?: number } {
  const lineColumn = /line (\d+) column (\d+)/.exec(message);
  if (lineColumn?.[1] && lineColumn[2]) {
    return { line: Number(lineColumn[1]), column: Number(lineColumn[2]) };
  }
  const line = /line (\d+)/.exec(message);
  if (line?.[1]) return { line: Number(line[1]) };
  const position = /position (\d+)/.exec(message);
  const offset = position?.[1]
    ? Number(position[1])
    : /end of JSON input/.test(message)
    ? text.length
    : undefined;
  if (offset === undefined) return {};
  const before = text.slice(0, offset).split("\n");
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
}

function errorText(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/[.\s]+$/, "");
}

/** The 1-based line of the deepest node on `path` (a map key's own line); none for the root. */
function locateInDocument(
  root: unknown,
  path: readonly PathSegment[],
  lineCounter: LineCounter,
): number | undefined {
  let node: unknown = root;
  let found: Node | undefined;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((item) =>
        isPair(item) && isScalar(item.key) && String(item.key.value) === String(segment)
      );
      if (!pair || !isScalar(pair.key)) break;
      found = pair.key;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === "number") {
      const item = node.items[segment];
      if (item === undefined || item === null || typeof item !== "object") break;
      found = item as Node;
      node = item;
    } else {
      break;
    }
  }
  const offset = found?.range?.[0];
  return offset === undefined ? undefined : lineCounter.linePos(offset).line;
}

// ---------------------------------------------------------------------------
// Layers

function rootMapping(value: unknown, source: string): Record<string, unknown> {
  if (value === null || value === undefined) return {};
  if (isPlainRecord(value)) return value;
  throw new ConfigError("invalid", source, [{
    path: "",
    message: `The configuration must be a mapping of keys (key: value), got ${
      describeValue(value)
    }.`,
  }]);
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * An empty YAML value (`country:`) means "not set", as serde's `Option` read
 * it in the anchor; except for lists whose emptiness is itself a mistake.
 */
function cleanNulls(value: unknown, depth = 0): void {
  if (Array.isArray(value)) {
    for (const item of value) cleanNulls(item, depth + 1);
    return;
  }
  if (!isPlainRecord(value)) return;
  for (const [key, child] of Object.entries(value)) {
    if (depth === 0 && PASS_THROUGH_KEYS.has(key)) continue;
    if (child === null) {
      if (NULL_MEANS_EMPTY_LIST.has(key)) value[key] = [];
      else delete value[key];
    } else {
      cleanNulls(child, depth + 1);
    }
  }
}

function applyEnv<T>(
  spec: RoleSpec<T>,
  env: Readonly<Record<string, string | undefined>>,
  layered: Record<string, unknown>,
  placer: ProblemPlacer,
): void {
  const seen = new Set<string>();
  for (const binding of spec.env) {
    if (!binding.variable.startsWith(ENV_PREFIX) || seen.has(binding.key)) continue;
    const text = env[binding.variable];
    // An empty variable is unset: `P2PROXY_API_KEY=` in a compose file means "no value".
    if (text === undefined || text.trim() === "") continue;
    seen.add(binding.key);
    placer.setOrigin(binding.key, { kind: "env", name: binding.variable });
    const coerced = coerce(text, binding.kind);
    if (coerced.ok) layered[binding.key] = coerced.value;
    else {
      delete layered[binding.key];
      placer.add({ path: [binding.key], message: coerced.message });
    }
  }
}

function applyOverrides<T>(
  spec: RoleSpec<T>,
  overrides: Readonly<Record<string, unknown>>,
  layered: Record<string, unknown>,
  placer: ProblemPlacer,
): void {
  const known = keysAt(spec.schema, []);
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    const key = spec.aliases?.[name] ?? name;
    if (!known.includes(key)) {
      placer.addPlaced({
        path: flagOf(name),
        message: `Unknown setting \`${name}\` for the ${spec.role} role.`,
      });
      continue;
    }
    placer.setOrigin(key, { kind: "flag", name: flagOf(name) });
    const kind = spec.env.find((binding) => binding.key === key)?.kind;
    const coerced = typeof value === "string" && kind !== undefined
      ? coerce(value, kind)
      : { ok: true as const, value };
    if (coerced.ok) layered[key] = coerced.value;
    else {
      delete layered[key];
      placer.add({ path: [key], message: coerced.message });
    }
  }
}

/** How high a layer is: a key set by a higher layer beats one set by a lower. */
function layerRank(origin: Origin | undefined): number {
  if (origin === undefined) return 0;
  return origin.kind === "env" ? 1 : 2;
}

/**
 * `port` is shorthand for the TCP port of the listen addresses. When
 * `listen_addrs` is set in the same or a higher layer, it wins and `port` is
 * ignored, as in the anchor; a `port` from a higher layer (`--port`,
 * `P2PROXY_PORT`) moves the listen addresses' TCP port.
 */
function resolvePortShorthand(
  layered: Record<string, unknown>,
  placer: ProblemPlacer,
  warnings: ConfigProblem[],
): void {
  // A malformed `port` is left in place, so that it is reported rather than silently dropped.
  if (!Number.isInteger(layered.port) || layered.listen_addrs === undefined) return;
  if (layerRank(placer.origin("port")) > layerRank(placer.origin("listen_addrs"))) return;
  delete layered.port;
  warnings.push(placer.place({
    path: ["port"],
    message: "`port` is ignored because `listen_addrs` is set too (as in the anchor): remove " +
      "`port`, or put the port in `listen_addrs`.",
  }));
}

type Coerced = { ok: true; value: unknown } | { ok: false; message: string };

const TRUE_WORDS = new Set(["true", "1", "yes", "on"]);
const FALSE_WORDS = new Set(["false", "0", "no", "off"]);

/** Turns a variable's (or flag's) text into the kind of value its key takes. */
function coerce(text: string, kind: EnvKind): Coerced {
  const trimmed = text.trim();
  switch (kind) {
    case "string":
      return { ok: true, value: trimmed };
    case "list":
      return {
        ok: true,
        value: trimmed.split(",").map((item) => item.trim()).filter((item) => item !== ""),
      };
    case "boolean": {
      const folded = trimmed.toLowerCase();
      if (TRUE_WORDS.has(folded)) return { ok: true, value: true };
      if (FALSE_WORDS.has(folded)) return { ok: true, value: false };
      return { ok: false, message: `Expected true or false, got ${quote(text)}.` };
    }
    case "integer":
      if (/^[+-]?\d{1,15}$/.test(trimmed)) return { ok: true, value: Number(trimmed) };
      return { ok: false, message: `Expected a whole number, got ${quote(text)}.` };
    case "number":
      if (/^[+-]?(?:\d{1,15}(?:\.\d*)?|\.\d+)$/.test(trimmed)) {
        return { ok: true, value: Number(trimmed) };
      }
      return { ok: false, message: `Expected a number, got ${quote(text)}.` };
  }
}

// ---------------------------------------------------------------------------
// Issues → problems

/** zod's issue, reduced to the fields the messages use. */
interface Issue {
  readonly code: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly input?: unknown;
  readonly expected?: string;
  readonly keys?: readonly string[];
  readonly values?: readonly unknown[];
  readonly origin?: string;
  readonly minimum?: number | bigint;
  readonly maximum?: number | bigint;
  readonly inclusive?: boolean;
}

function problemsOfIssue<T>(spec: RoleSpec<T>, raw: z.core.$ZodIssue): PendingProblem[] {
  const issue = raw as unknown as Issue;
  const path = issue.path.map((segment) => typeof segment === "number" ? segment : String(segment));
  if (issue.code === "unrecognized_keys") {
    return (issue.keys ?? []).map((key) => ({
      path: [...path, key],
      message: unknownKeyMessage(spec, path, key),
    }));
  }
  return [{ path, message: issueMessage(issue, path) }];
}

function unknownKeyMessage<T>(
  spec: RoleSpec<T>,
  path: readonly PathSegment[],
  key: string,
): string {
  const foreign = spec.foreignKeys;
  if (path.length === 0 && foreign !== undefined && Object.hasOwn(foreign, key)) {
    return foreign[key] ?? "";
  }
  const schema = spec.schema;
  const known = keysAt(schema, path);
  const match = closestMatch(key, known);
  if (match !== undefined) return `Unknown key \`${key}\`. Did you mean \`${match}\`?`;
  const home = sectionsAt(schema, path).find((section) => section.keys.includes(key));
  if (home !== undefined) {
    const where = home.list ? `each entry of \`${home.name}\`` : `\`${home.name}\``;
    return `Unknown key \`${key}\` here: it belongs inside ${where}.`;
  }
  return `Unknown key \`${key}\`: remove it. Keys allowed here: ${known.join(", ")}.`;
}

/** Keys whose values are never echoed in a message. */
const SECRET_KEYS = new Set(["password", "api_key", "token", "secret", "admin_token"]);

const EXPECTED_NAMES: Readonly<Record<string, string>> = {
  number: "a number",
  int: "a whole number",
  string: "a string",
  boolean: "true or false",
  array: "a list",
  object: "a mapping (key: value)",
  record: "a mapping (key: value)",
};

/** zod's own English messages; any other message was written for the schema and is kept. */
const ZOD_DEFAULT_MESSAGE = /^(?:Invalid|Too big|Too small|Unrecognized)\b/;

function issueMessage(issue: Issue, path: readonly PathSegment[]): string {
  if (issue.code === "custom" || !ZOD_DEFAULT_MESSAGE.test(issue.message)) return issue.message;
  switch (issue.code) {
    case "invalid_type":
      return invalidTypeMessage(issue, path);
    case "too_small":
      return tooSmallMessage(issue);
    case "too_big":
      return tooBigMessage(issue);
    case "invalid_value": {
      const values = (issue.values ?? []).map(String);
      const hint = typeof issue.input === "string" ? closestMatch(issue.input, values) : undefined;
      return `Expected one of ${values.join(", ")}, got ${describeValue(issue.input)}.` +
        (hint === undefined ? "" : ` Did you mean \`${hint}\`?`);
    }
    default:
      return issue.message;
  }
}

function invalidTypeMessage(issue: Issue, path: readonly PathSegment[]): string {
  if (issue.input === undefined) {
    const missing = path.at(-1);
    return typeof missing === "string"
      ? `Missing required key \`${missing}\`.`
      : "A value is required.";
  }
  const expected = EXPECTED_NAMES[issue.expected ?? ""] ?? issue.expected ?? "another value";
  const key = path.at(-1);
  const secret = typeof key === "string" && SECRET_KEYS.has(key);
  const got = secret ? describeKind(issue.input) : describeValue(issue.input);
  if (issue.expected === "string" && typeof issue.input !== "object") {
    // YAML reads `password: 0123` as the number 123: quoting keeps what was typed.
    return `Expected a string, got ${got}: put the value in quotes.`;
  }
  if (issue.expected === "int" && typeof issue.input === "number") {
    return `Expected a whole number, got ${issue.input}.`;
  }
  return `Expected ${expected}, got ${got}.`;
}

function tooSmallMessage(issue: Issue): string {
  const minimum = Number(issue.minimum);
  if (issue.origin === "array" || issue.origin === "set") {
    return minimum <= 1
      ? "The list is empty: give at least one entry."
      : `Give at least ${minimum} entries.`;
  }
  if (issue.origin === "string") {
    return minimum <= 1 ? "The value is empty." : `Must be at least ${minimum} characters long.`;
  }
  const bound = issue.inclusive === false ? `greater than ${minimum}` : `at least ${minimum}`;
  return `Must be ${bound}, got ${describeNumber(issue.input)}.`;
}

function tooBigMessage(issue: Issue): string {
  const maximum = Number(issue.maximum);
  if (issue.origin === "array" || issue.origin === "set") return `Give at most ${maximum} entries.`;
  if (issue.origin === "string") return `Must be at most ${maximum} characters long.`;
  const bound = issue.inclusive === false ? `less than ${maximum}` : `at most ${maximum}`;
  return `Must be ${bound}, got ${describeNumber(issue.input)}.`;
}

function describeNumber(value: unknown): string {
  return typeof value === "number" ? String(value) : describeValue(value);
}

// ---------------------------------------------------------------------------
// Placing problems: which path the user sees, and which line

class ProblemPlacer {
  readonly #locate: (path: readonly PathSegment[]) => number | undefined;
  readonly #origins = new Map<string, Origin>();
  readonly #renames: Array<
    { canonical: readonly PathSegment[]; original: readonly PathSegment[] }
  > = [];
  readonly #placed: ConfigProblem[] = [];

  constructor(locate: (path: readonly PathSegment[]) => number | undefined) {
    this.#locate = locate;
  }

  mapPath(canonical: readonly PathSegment[], original: readonly PathSegment[]): void {
    this.#renames.push({ canonical, original });
  }

  setOrigin(key: string, origin: Origin): void {
    this.#origins.set(key, origin);
  }

  origin(key: string): Origin | undefined {
    return this.#origins.get(key);
  }

  add(problem: PendingProblem): void {
    this.#placed.push(this.place(problem));
  }

  addPlaced(problem: ConfigProblem): void {
    this.#placed.push(problem);
  }

  /** The problem as the user should see it: an env variable or flag when that set the key, else the file path and line. */
  place(problem: PendingProblem): ConfigProblem {
    const [top, ...rest] = problem.path;
    const origin = typeof top === "string" ? this.#origins.get(top) : undefined;
    if (origin !== undefined) {
      const suffix = formatPath(rest);
      return {
        path: suffix === ""
          ? origin.name
          : `${origin.name}${suffix.startsWith("[") ? "" : "."}${suffix}`,
        message: problem.message,
      };
    }
    const original = this.#original(problem.path);
    const line = this.#locate(original);
    return {
      path: formatPath(original),
      message: problem.message,
      ...(line === undefined ? {} : { line }),
    };
  }

  /** Problems in file order (those without a line keep their order, after the others), without repeats. */
  problems(): ConfigProblem[] {
    const seen = new Set<string>();
    const unique = this.#placed.filter((problem) => {
      const id = `${problem.path}\u0000${problem.message}`;
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    });
    return unique
      .map((problem, index) => ({ problem, index }))
      .sort((a, b) =>
        (a.problem.line ?? Infinity) - (b.problem.line ?? Infinity) || a.index - b.index
      )
      .map(({ problem }) => problem);
  }

  /** Undoes legacy renames: the longest matching canonical prefix is replaced by what the file said. */
  #original(path: readonly PathSegment[]): readonly PathSegment[] {
    let best: { canonical: readonly PathSegment[]; original: readonly PathSegment[] } | undefined;
    for (const rename of this.#renames) {
      const matches = rename.canonical.length <= path.length &&
        rename.canonical.every((segment, i) => segment === path[i]);
      if (matches && (best === undefined || rename.canonical.length > best.canonical.length)) {
        best = rename;
      }
    }
    if (best === undefined) return path;
    return [...best.original, ...path.slice(best.canonical.length)];
  }
}
