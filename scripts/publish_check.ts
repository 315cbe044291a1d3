/**
 * `deno task publish:check`: what `deno publish` would ship, checked offline.
 *
 * Runs `deno publish --dry-run --allow-dirty` (no registry needed) and fails when
 * - the dry run fails or prints any warning that is not excused in the source
 *   (see {@link IGNORE_DIRECTIVE}), or
 * - the file list breaks the package policy ({@link packageProblems}): no tests,
 *   test data, keys, or modules a consumer cannot reach from an export.
 * tests/package_test.ts runs the same checks.
 *
 * @module
 */
import { join, relative } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";

/**
 * A line comment that excuses one publish warning on the line below it, with a
 * reason: `// publish-check-ignore unanalyzable-dynamic-import -- why`. Deno has no
 * directive of its own for publish warnings, so this script honours this one.
 */
export const IGNORE_DIRECTIVE = "publish-check-ignore";

/** One warning or error printed by `deno publish`. */
export interface PublishDiagnostic {
  readonly level: "warning" | "error";
  /** The diagnostic's code, e.g. `unanalyzable-dynamic-import`; `""` when it has none. */
  readonly code: string;
  readonly message: string;
  /** Path relative to the package root, when the diagnostic names a file. */
  readonly file?: string;
  /** 1-based line, when the diagnostic names one. */
  readonly line?: number;
}

/** What a dry run printed, parsed. */
export interface DryRunResult {
  /** Paths relative to the package root, sorted. */
  readonly files: readonly string[];
  readonly diagnostics: readonly PublishDiagnostic[];
}

/** A file the package must not ship, and why. */
export interface PackageProblem {
  readonly file: string;
  readonly reason: string;
}

// deno-lint-ignore no-control-regex
const ANSI_PATTERN = /\x1b\[[0-9;]*m/g;
const DIAGNOSTIC_PATTERN = /^(warning|error)(?:\[([a-z0-9-]+)\])?: (.*)$/;
const LOCATION_PATTERN = /^\s*-->\s+(.+?)(?::(\d+):(\d+))?\s*$/;
const FILE_PATTERN = /^\s+(file:\/\/\S+)\s+\(/;

/** Parses the text `deno publish --dry-run` prints; `root` is the package folder. */
export function parseDryRunOutput(text: string, root: string): DryRunResult {
  const lines = text.replace(ANSI_PATTERN, "").split("\n");
  const files: string[] = [];
  const diagnostics: PublishDiagnostic[] = [];
  lines.forEach((line, index) => {
    const file = FILE_PATTERN.exec(line);
    if (file) {
      files.push(relative(root, fromFileUrl(file[1]!)));
      return;
    }
    const diagnostic = DIAGNOSTIC_PATTERN.exec(line);
    if (!diagnostic) return;
    const location = LOCATION_PATTERN.exec(lines[index + 1] ?? "");
    diagnostics.push({
      level: diagnostic[1] as "warning" | "error",
      code: diagnostic[2] ?? "",
      message: diagnostic[3]!,
      ...(location ? { file: relative(root, location[1]!) } : {}),
      ...(location?.[2] ? { line: Number(location[2]) } : {}),
    });
  });
  return { files: files.sort(), diagnostics };
}

/** Runs `deno publish --dry-run --allow-dirty` in `root` and parses what it printed. */
export async function publishDryRun(root: string): Promise<DryRunResult & { success: boolean }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["publish", "--dry-run", "--allow-dirty"],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  const text = decoder.decode(output.stdout) + "\n" + decoder.decode(output.stderr);
  const result = parseDryRunOutput(text, root);
  if (!output.success && result.diagnostics.length === 0) {
    // A failure without a parsable diagnostic (bad config, crash): keep its text.
    return {
      ...result,
      success: false,
      diagnostics: [{ level: "error", code: "", message: text.trim() }],
    };
  }
  return { ...result, success: output.success };
}

/**
 * The diagnostics that fail the check: every error, and every warning unless
 * the line above the flagged line carries `// publish-check-ignore <code> -- <reason>`.
 * `sourceLine(file, line)` returns a 1-based line of a package file.
 */
export function unexcusedDiagnostics(
  diagnostics: readonly PublishDiagnostic[],
  sourceLine: (file: string, line: number) => string | undefined,
): PublishDiagnostic[] {
  return diagnostics.filter((d) => {
    if (d.level === "error" || d.file === undefined || d.line === undefined) return true;
    const above = sourceLine(d.file, d.line - 1) ?? "";
    const directive = new RegExp(`//\\s*${IGNORE_DIRECTIVE}\\s+${d.code}\\s+--\\s+\\S`);
    return !directive.test(above);
  });
}

/** Files a published package must never contain, by pattern. */
const FORBIDDEN_FILES: readonly { pattern: RegExp; reason: string }[] = [
  { pattern: /_test\.ts$/, reason: "a test file" },
  { pattern: /(^|\/)testdata\//, reason: "test data" },
  { pattern: /(^|\/)(tests|scripts|\.ci|\.github)\//, reason: "repository tooling, not library" },
  { pattern: /\.(key|pem|p12|pfx)$/, reason: "a key file" },
  { pattern: /(^|\/)node_keypair\.bin$/, reason: "a node identity (private key)" },
  { pattern: /(^|\/)\.git($|\/)/, reason: "git metadata" },
  { pattern: /(^|\/)(node_modules|dist|coverage|\.bench)\//, reason: "a build or cache folder" },
  { pattern: /(^|\/)(sticky_peers\.json|[^/]*\.kv)$/, reason: "node state" },
];

/** Files every consumer needs (the entry points and the legal and user-facing docs). */
export const REQUIRED_FILES: readonly string[] = ["LICENSE", "README.md", "deno.json", "mod.ts"];

/**
 * Problems with a package's file list. `reachable` is the set of local modules
 * some export imports (directly or not); a shipped `.ts` module outside it is
 * dead weight or a test helper, except `mod.ts` facades. Pass `undefined` to
 * skip that rule.
 */
export function packageProblems(
  files: readonly string[],
  reachable: ReadonlySet<string> | undefined,
): PackageProblem[] {
  const problems: PackageProblem[] = [];
  for (const file of files) {
    const forbidden = FORBIDDEN_FILES.find((f) => f.pattern.test(file));
    if (forbidden) {
      problems.push({ file, reason: forbidden.reason });
      continue;
    }
    const isModule = file.endsWith(".ts") && !file.endsWith(".d.ts");
    const isFacade = file === "mod.ts" || file.endsWith("/mod.ts");
    if (reachable && isModule && !isFacade && !reachable.has(file)) {
      problems.push({ file, reason: "no export imports it (a test helper? exclude it)" });
    }
  }
  for (const file of REQUIRED_FILES) {
    if (!files.includes(file)) problems.push({ file, reason: "missing: every consumer needs it" });
  }
  return problems;
}

/** The local modules reachable from the package's exports (paths relative to `root`). */
export async function reachableModules(root: string): Promise<Set<string>> {
  const config = JSON.parse(await Deno.readTextFile(join(root, "deno.json")));
  const exports = Object.values(config.exports as Record<string, string>);
  const reachable = new Set<string>();
  for (const entry of exports) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", entry],
      cwd: root,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!output.success) {
      throw new Error(
        `"deno info ${entry}" failed: ${new TextDecoder().decode(output.stderr)}`,
      );
    }
    const graph = JSON.parse(new TextDecoder().decode(output.stdout)) as {
      modules: { specifier: string }[];
    };
    for (const { specifier } of graph.modules) {
      if (specifier.startsWith("file:")) reachable.add(relative(root, fromFileUrl(specifier)));
    }
  }
  return reachable;
}

/** Reads line `line` (1-based) of `file` under `root`, or undefined. */
function sourceLineReader(root: string): (file: string, line: number) => string | undefined {
  const cache = new Map<string, string[]>();
  return (file, line) => {
    if (!cache.has(file)) {
      try {
        cache.set(file, Deno.readTextFileSync(join(root, file)).split("\n"));
      } catch {
        cache.set(file, []);
      }
    }
    return cache.get(file)![line - 1];
  };
}

/** The whole check: dry run, diagnostics, file policy. Returns the lines to print on failure. */
export async function checkPackage(root: string): Promise<{ files: string[]; failures: string[] }> {
  const dryRun = await publishDryRun(root);
  const failures = unexcusedDiagnostics(dryRun.diagnostics, sourceLineReader(root)).map((d) =>
    `${d.level}${d.code ? `[${d.code}]` : ""}: ${d.message}${
      d.file ? ` (${d.file}${d.line ? `:${d.line}` : ""})` : ""
    }`
  );
  if (!dryRun.success && failures.length === 0) failures.push("error: the dry run failed");
  const problems = packageProblems(dryRun.files, await reachableModules(root));
  failures.push(...problems.map((p) => `${p.file}: ${p.reason}`));
  return { files: [...dryRun.files], failures };
}

if (import.meta.main) {
  const root = fromFileUrl(new URL("..", import.meta.url));
  const { files, failures } = await checkPackage(root);
  if (failures.length > 0) {
    console.error(`deno publish --dry-run: ${failures.length} problem(s):`);
    for (const failure of failures) console.error(`  ${failure}`);
    console.error(
      `Fix each one, or exclude a file in deno.json "publish.exclude". A warning that must stay ` +
        `takes "// ${IGNORE_DIRECTIVE} <code> -- <reason>" on the line above it.`,
    );
    Deno.exit(1);
  }
  console.log(`deno publish --dry-run: ${files.length} files, no warnings, nothing unwanted.`);
}
