/**
 * The documentation the code cites exists: every `docs/<file>.md#<anchor>` named in a
 * comment or a document is a real file with that heading, README lists every file in
 * docs/, and nothing cites the specification or design notes that are not in this
 * repository (the code cites docs/ instead).
 *
 * @module
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

/** Folders that hold no project text (dependencies, build output, caches). */
const SKIPPED_DIRS = new Set([".git", "node_modules", "dist", "coverage", ".bench"]);
const TEXT_FILE = /\.(ts|md|proto|json|yaml|yml|sh)$|^run$/;

/** Every text file of the repository, relative to its root. */
async function textFiles(dir = ROOT): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) {
      if (!SKIPPED_DIRS.has(entry.name)) files.push(...await textFiles(path));
    } else if (entry.isFile && TEXT_FILE.test(entry.name)) {
      files.push(relative(ROOT, path));
    }
  }
  return files.sort();
}

/** A heading's anchor as GitHub renders it: lower case, punctuation dropped, spaces → `-`. */
function headingAnchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replace(/ /g, "-");
}

/** The anchors of a Markdown document's headings (outside fenced code). */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const heading = /^#{1,6} (.+)$/.exec(line);
    if (!fenced && heading) anchors.add(headingAnchor(heading[1]!));
  }
  return anchors;
}

/** A reference to a docs file, and where it was made. */
interface DocReference {
  readonly from: string;
  readonly file: string;
  readonly anchor?: string;
}

const DOC_CITATION = /docs\/([a-z0-9_-]+\.md)(?:#([a-z0-9_-]+))?/g;
const RELATIVE_LINK = /\]\(([a-z0-9_-]+\.md)(?:#([a-z0-9_-]+))?\)/g;

/** References to docs/ files in `text`: `docs/x.md#a` anywhere, and `](x.md#a)` inside docs/. */
function docReferences(from: string, text: string): DocReference[] {
  const references: DocReference[] = [];
  const add = (match: RegExpMatchArray) =>
    references.push({ from, file: match[1]!, ...(match[2] ? { anchor: match[2] } : {}) });
  for (const match of text.matchAll(DOC_CITATION)) add(match);
  if (from.startsWith("docs/")) { for (const match of text.matchAll(RELATIVE_LINK)) add(match); }
  return references;
}

// Spelled in pieces so that this file does not match itself.
const FORBIDDEN_CITATIONS = [new RegExp(`\\b${"SP"}EC\\b`), new RegExp(`${"DES"}IGN\\.md`)];

Deno.test("no file cites the specification or design notes that are not in the repository", async () => {
  const offenders: string[] = [];
  for (const file of await textFiles()) {
    const lines = (await Deno.readTextFile(join(ROOT, file))).split("\n");
    lines.forEach((line, index) => {
      if (FORBIDDEN_CITATIONS.some((pattern) => pattern.test(line))) {
        offenders.push(`${file}:${index + 1}: ${line.trim()}`);
      }
    });
  }
  assert.deepEqual(offenders, [], "cite docs/ (or ARCHITECTURE.md) instead");
});

Deno.test("every cited docs file and heading exists", async () => {
  const anchors = new Map<string, Set<string>>();
  for await (const entry of Deno.readDir(join(ROOT, "docs"))) {
    if (!entry.name.endsWith(".md")) continue;
    anchors.set(entry.name, anchorsOf(await Deno.readTextFile(join(ROOT, "docs", entry.name))));
  }
  const broken: string[] = [];
  let checked = 0;
  // This file's own samples are made-up references.
  const files = (await textFiles()).filter((file) => file !== "tests/docs_test.ts");
  for (const file of files) {
    for (const reference of docReferences(file, await Deno.readTextFile(join(ROOT, file)))) {
      checked++;
      const headings = anchors.get(reference.file);
      if (!headings) broken.push(`${reference.from}: docs/${reference.file} does not exist`);
      else if (reference.anchor && !headings.has(reference.anchor)) {
        broken.push(
          `${reference.from}: docs/${reference.file} has no heading #${reference.anchor}`,
        );
      }
    }
  }
  assert.deepEqual(broken, []);
  assert.ok(checked > 50, `expected the code to cite docs/ widely, found ${checked} references`);
});

Deno.test("README links every file in docs/", async () => {
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  const missing: string[] = [];
  for await (const entry of Deno.readDir(join(ROOT, "docs"))) {
    if (entry.name.endsWith(".md") && !readme.includes(`(docs/${entry.name})`)) {
      missing.push(entry.name);
    }
  }
  assert.deepEqual(missing, []);
});

Deno.test("the reference checks catch a missing file, a missing heading and a forbidden citation", () => {
  const anchors = anchorsOf("# Proxy behaviour\n## Reply codes\n```\n## not a heading\n```\n");
  assert.deepEqual([...anchors], ["proxy-behaviour", "reply-codes"]);
  assert.equal(headingAnchor("Exit (`Exit.yaml`)"), "exit-exityaml");
  assert.deepEqual(
    docReferences("core/x.ts", "see docs/proxy-behaviour.md#reply-codes and docs/nope.md"),
    [
      { from: "core/x.ts", file: "proxy-behaviour.md", anchor: "reply-codes" },
      { from: "core/x.ts", file: "nope.md" },
    ],
  );
  assert.deepEqual(docReferences("docs/a.md", "[b](b.md#c)"), [
    { from: "docs/a.md", file: "b.md", anchor: "c" },
  ]);
  assert.equal(docReferences("core/a.ts", "[b](b.md#c)").length, 0);
  const cites = (line: string) => FORBIDDEN_CITATIONS.some((pattern) => pattern.test(line));
  assert.equal(cites(`// see ${"SP"}EC §5.2`), true);
  assert.equal(cites(`// see ${"DES"}IGN.md`), true);
  assert.equal(cites("ERROR_CODE_UNSPECIFIED = 0;"), false);
  assert.equal(cites("const INSPECTOR_READY_MS = 1;"), false);
});
