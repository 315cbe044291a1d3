/**
 * The pure-core boundary (ARCHITECTURE.md, "Rules that keep it easy to change"): what no file under
 * core/ may use. `deno run -A scripts/core_boundary.ts` prints violations — these, and the layer
 * rule's over every folder (scripts/layers.ts) — and exits 1 when there are any;
 * tests/core_boundary_test.ts runs the same checks.
 *
 * @module
 */
import { dirname, join, relative, resolve } from "node:path";
import { findLayerViolations, formatViolation, readSources } from "./layers.ts";

/** node: modules that do no I/O and may be used in core/. */
const PURE_NODE_MODULES = new Set(["assert", "assert/strict", "util", "events", "buffer"]);

/** npm packages that do I/O (libp2p runtime, Connect transports) and must stay in plugins. */
const IO_PACKAGES = [
  "libp2p",
  "@libp2p/tcp",
  "@libp2p/websockets",
  "@libp2p/circuit-relay-v2",
  "@libp2p/identify",
  "@libp2p/ping",
  "@chainsafe/libp2p-noise",
  "@chainsafe/libp2p-yamux",
  "@connectrpc/connect-web",
  "@connectrpc/connect-node",
  "@connectrpc/connect/protocol",
  "prom-client",
  "ink",
];

/** One forbidden use: file, line (1-based) and what was found. */
export interface BoundaryViolation {
  readonly file: string;
  readonly line: number;
  readonly found: string;
}

const IMPORT_PATTERN = /(?:\bfrom\s*|\bimport\s*\(?\s*|\bexport\s*\*\s*from\s*)["']([^"']+)["']/g;
const DENO_API_PATTERN = /\bDeno\.([A-Za-z_]+)/g;
const GLOBAL_IO_PATTERN =
  /\b(fetch|WebSocket|XMLHttpRequest|EventSource)\s*\(|\bnew\s+(WebSocket|Worker)\b/g;

/** Violations in one file's text; `file` is its path (used to check relative imports stay in core/). */
export function findBoundaryViolations(
  file: string,
  text: string,
  coreRoot: string,
): BoundaryViolation[] {
  const violations: BoundaryViolation[] = [];
  const lines = stripComments(text).split("\n");
  lines.forEach((line, index) => {
    const at = (found: string) => violations.push({ file, line: index + 1, found });
    for (const match of line.matchAll(DENO_API_PATTERN)) {
      const name = match[1]!;
      if (name === "test") continue;
      at(`Deno.${name}`);
    }
    for (const match of line.matchAll(GLOBAL_IO_PATTERN)) at(match[0].trim());
    for (const match of line.matchAll(IMPORT_PATTERN)) {
      const problem = importProblem(match[1]!, file, coreRoot);
      if (problem) at(problem);
    }
  });
  return violations;
}

function importProblem(specifier: string, file: string, coreRoot: string): string | undefined {
  const bare = specifier.replace(/^npm:/, "").replace(/@\d[^/]*$/, "");
  if (specifier.startsWith("node:")) {
    return PURE_NODE_MODULES.has(specifier.slice(5)) ? undefined : `import "${specifier}"`;
  }
  if (specifier.startsWith(".")) {
    const target = resolve(dirname(file), specifier);
    return target.startsWith(resolve(coreRoot) + "/")
      ? undefined
      : `import "${specifier}" (outside core/)`;
  }
  if (/^(https?|jsr|file):/.test(specifier)) return `import "${specifier}"`;
  const isIo = IO_PACKAGES.some((pkg) =>
    bare === pkg || bare.startsWith(`${pkg}/`) || bare.startsWith(`${pkg}@`)
  );
  return isIo ? `import "${specifier}"` : undefined;
}

/** Removes comments so that a doc example mentioning `Deno.serve` is not a violation. */
function stripComments(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, (block) => block.replace(/[^\n]/g, " "))
    .replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

/** Checks every .ts/.tsx file under `coreRoot`. */
export async function checkCoreBoundary(coreRoot: string): Promise<BoundaryViolation[]> {
  const violations: BoundaryViolation[] = [];
  for await (const file of walk(coreRoot)) {
    violations.push(...findBoundaryViolations(file, await Deno.readTextFile(file), coreRoot));
  }
  return violations;
}

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* walk(path);
    else if (/\.(ts|tsx|js|mjs)$/.test(entry.name)) yield path;
  }
}

if (import.meta.main) {
  const root = new URL("../core", import.meta.url).pathname;
  const violations = await checkCoreBoundary(root);
  for (const v of violations) console.log(`${relative(Deno.cwd(), v.file)}:${v.line}: ${v.found}`);
  // The layer rule over every folder (scripts/layers.ts) runs with the core's purity check.
  const layers = findLayerViolations(await readSources(new URL("..", import.meta.url).pathname));
  for (const v of layers) console.log(formatViolation(v));
  Deno.exit(violations.length + layers.length > 0 ? 1 : 0);
}
