/**
 * The layer rule (ARCHITECTURE.md, "Layers"): which folder may import which. Every source file
 * belongs to a unit — a top-level folder (`core`, `wire`, `proxy`…), one plugin folder
 * (`plugins/<name>`), or a file at the top (`mod.ts`) — and a unit may import only itself and the
 * units {@link LAYER_RULE} lists for it. The units' import graph must also have no cycle.
 *
 * Tests and their helpers (`*_test.ts`, `_testing.ts`, `_test_support.ts`, `_fake_*.ts`) are left
 * out: a test may drive real plugins against a role service. `deno run -A scripts/layers.ts`
 * prints each offending import as `file:line → target` and exits 1 when there is one;
 * tests/core_boundary_test.ts runs the same check.
 *
 * @module
 */
import { dirname, join, relative, resolve } from "node:path";

/** What every plugin folder may import: the core, the shared libraries, the generated protobuf. */
const PLUGIN_MAY_IMPORT = ["core", "proto", "wire", "auth", "plugins/_shared", "deno.json"];
/** What every role service may import: the core and the shared libraries, never a plugin. */
const SERVICE_MAY_IMPORT = ["core", "proto", "wire", "auth"];
/** Units below the composition root. */
const BELOW_ROOT = [
  ...SERVICE_MAY_IMPORT,
  "deno.json",
  "plugins",
  "plugins/*",
  "plugins/_shared",
  "proxy",
  "exit",
  "hub",
  "auth-service",
];

/**
 * Unit → the units it may import (besides itself). `plugins/*` stands for every plugin folder;
 * `plugins` is the plugin list (`plugins/builtin.ts`); `*` is anything (tools and tests).
 */
export const LAYER_RULE: Readonly<Record<string, readonly string[]>> = {
  // The pure core, the generated protobuf and the package manifest import nothing of ours.
  "core": [],
  "proto": [],
  "deno.json": [],
  // Shared libraries: the byte-pumps and wire protocols, then the auth protocol.
  "wire": ["core", "proto"],
  "auth": ["core", "proto", "wire"],
  // Role services receive their ports from the root.
  "proxy": SERVICE_MAY_IMPORT,
  "exit": SERVICE_MAY_IMPORT,
  "hub": SERVICE_MAY_IMPORT,
  "auth-service": SERVICE_MAY_IMPORT,
  // Plugins are adapters; helpers only plugins share live in plugins/_shared.
  "plugins/_shared": ["core", "wire"],
  "plugins/*": PLUGIN_MAY_IMPORT,
  "plugins": ["core", "plugins/*"],
  // The composition root builds every role from config and the plugin list; the CLI is its user.
  "compose": BELOW_ROOT,
  "mod.ts": ["core", "compose"],
  "cli": [...BELOW_ROOT, "compose"],
  // The client library is the root's other user: a proxy without doors, driven from code.
  "client": [...BELOW_ROOT, "compose"],
  "scripts": ["*"],
  "tests": ["*"],
  // Third-party plugin examples import the package by its published name, never by path.
  "examples": [],
};

/** A file a test may use freely: tests, their helpers and fakes. */
const TEST_FILE = /(_test\.tsx?|\/_testing\.ts|\/_test_support\.ts|\/_fake_[^/]*\.ts)$/;

/** One import the rule refuses. */
export interface LayerViolation {
  /** The importing file, relative to the root. */
  readonly file: string;
  /** 1-based line of the import. */
  readonly line: number;
  /** The imported file, relative to the root. */
  readonly target: string;
  /** Why: the two units and what the importer may use. */
  readonly reason: string;
}

/** An edge of the unit graph, with one import that makes it. */
interface UnitEdge {
  readonly from: string;
  readonly to: string;
  readonly file: string;
  readonly line: number;
  readonly target: string;
}

const IMPORT_PATTERN =
  /(?:\bfrom\s*|\bimport\s*\(?\s*|\bexport\s*\*\s*from\s*)["'](\.{1,2}\/[^"']+)["']/g;

/** The unit of a path relative to the root: `plugins/<name>`, a top folder, or a top file. */
export function unitOf(path: string): string {
  const parts = path.split("/");
  if (parts[0] === "plugins" && parts.length > 2) return `plugins/${parts[1]}`;
  return parts[0]!;
}

/** Whether `from` may import `to` under {@link LAYER_RULE}. */
export function mayImport(from: string, to: string): boolean {
  if (from === to) return true;
  const allowed = LAYER_RULE[ruleKey(from)];
  if (!allowed) return false;
  return allowed.includes("*") || allowed.includes(to) ||
    (to.startsWith("plugins/") && to !== "plugins/_shared" && allowed.includes("plugins/*"));
}

function ruleKey(unit: string): string {
  return unit.startsWith("plugins/") && unit !== "plugins/_shared" ? "plugins/*" : unit;
}

/** Relative imports of one file's text, with their 1-based lines; comments ignored. */
export function relativeImports(text: string): { specifier: string; line: number }[] {
  const found: { specifier: string; line: number }[] = [];
  stripComments(text).split("\n").forEach((line, index) => {
    for (const match of line.matchAll(IMPORT_PATTERN)) {
      found.push({ specifier: match[1]!, line: index + 1 });
    }
  });
  return found;
}

/**
 * Checks files given as `path relative to the root → text`: every relative import of a non-test
 * file must stay in its unit or reach a unit its rule allows, and the unit graph must be acyclic.
 */
export function findLayerViolations(files: ReadonlyMap<string, string>): LayerViolation[] {
  const violations: LayerViolation[] = [];
  const edges: UnitEdge[] = [];
  for (const [file, text] of files) {
    if (TEST_FILE.test(file)) continue;
    const from = unitOf(file);
    if (LAYER_RULE[ruleKey(from)] === undefined) {
      violations.push({
        file,
        line: 1,
        target: file,
        reason: `"${from}" is in no layer: add it to LAYER_RULE in scripts/layers.ts`,
      });
      continue;
    }
    for (const { specifier, line } of relativeImports(text)) {
      const target = relative(".", join(dirname(file), specifier));
      const to = unitOf(target);
      if (from === to) continue;
      edges.push({ from, to, file, line, target });
      if (!mayImport(from, to)) {
        const allowed = LAYER_RULE[ruleKey(from)]!;
        violations.push({
          file,
          line,
          target,
          reason: `${from} may import only ${allowed.length > 0 ? allowed.join(", ") : "itself"}`,
        });
      }
    }
  }
  return [...violations, ...cycleViolations(edges)];
}

/** One violation per cycle of the unit graph, naming an import on it. */
function cycleViolations(edges: readonly UnitEdge[]): LayerViolation[] {
  const next = new Map<string, UnitEdge[]>();
  for (const edge of edges) next.set(edge.from, [...(next.get(edge.from) ?? []), edge]);
  const violations: LayerViolation[] = [];
  const reported = new Set<string>();
  const done = new Set<string>();
  const walk = (unit: string, path: UnitEdge[]): void => {
    if (done.has(unit)) return;
    for (const edge of next.get(unit) ?? []) {
      const start = path.findIndex((e) => e.from === edge.to);
      if (start >= 0 || edge.to === edge.from) {
        const cycle = [...path.slice(start), edge];
        const key = cycle.map((e) => e.from).sort().join(" ");
        if (reported.has(key)) continue;
        reported.add(key);
        violations.push({
          file: edge.file,
          line: edge.line,
          target: edge.target,
          reason: `cycle between folders: ${[...cycle.map((e) => e.from), edge.to].join(" → ")}`,
        });
        continue;
      }
      walk(edge.to, [...path, edge]);
    }
    done.add(unit);
  };
  for (const unit of next.keys()) walk(unit, []);
  return violations;
}

/** Removes comments so that a doc example's import is not an import. */
function stripComments(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, (block) => block.replace(/[^\n]/g, " "))
    .replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

/** Folders never scanned: dependencies, build output, generated code. */
const SKIPPED = new Set(["node_modules", "dist", "coverage", ".git", ".bench", "gen"]);

/** Reads every .ts/.tsx file under `root` (relative paths). */
export async function readSources(root: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const visit = async (dir: string) => {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name.startsWith(".") || SKIPPED.has(entry.name)) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory) await visit(path);
      else if (/\.tsx?$/.test(entry.name)) {
        files.set(relative(root, path), await Deno.readTextFile(path));
      }
    }
  };
  await visit(resolve(root));
  return files;
}

/** Renders a violation as `file:line → target: reason`. */
export function formatViolation(v: LayerViolation): string {
  return `${v.file}:${v.line} → ${v.target}: ${v.reason}`;
}

if (import.meta.main) {
  const root = new URL("..", import.meta.url).pathname;
  const violations = findLayerViolations(await readSources(root));
  for (const violation of violations) console.log(formatViolation(violation));
  Deno.exit(violations.length > 0 ? 1 : 0);
}
