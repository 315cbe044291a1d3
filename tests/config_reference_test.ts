/**
 * docs/config-reference.md lists every key of every role, and nothing else:
 * its key tables (each after a `<!-- config-keys roles="…" at="…" -->`
 * comment) are compared with the keys each role's schema accepts, both ways.
 */
import assert from "node:assert/strict";
import type { z } from "zod";
import { authConfigSchema } from "../core/config/auth_config.ts";
import { exitConfigSchema } from "../core/config/exit_config.ts";
import { hubConfigSchema } from "../core/config/hub_config.ts";
import { proxyConfigSchema } from "../core/config/proxy_config.ts";
import { CONFIG_FILE_ROLES, type ConfigFileRole } from "../core/config/role_inference.ts";
import { keyPaths } from "../core/config/_schema_walk.ts";

const REFERENCE = new URL("../docs/config-reference.md", import.meta.url);

const SCHEMAS: Readonly<Record<ConfigFileRole, z.ZodType>> = {
  proxy: proxyConfigSchema,
  exit: exitConfigSchema,
  hub: hubConfigSchema,
  auth: authConfigSchema,
};

/** A whole line that is a marker; an example of one quoted inside a paragraph is not. */
const MARKER = /^<!--\s*config-keys\s+roles="([^"]*)"\s+at="([^"]*)"\s*-->$/;

/** What a key cell may name: `port`, `pool.max_total`, `users[].username`. */
const KEY_PATH = /^[a-z_][a-z0-9_]*(?:\[\])?(?:\.[a-z_][a-z0-9_]*(?:\[\])?)*$/;

/** One table of keys, as the reference documents it. */
interface KeyTable {
  readonly line: number;
  readonly roles: readonly string[];
  readonly at: string;
  readonly keys: readonly string[];
}

function cellsOf(row: string): string[] {
  return row.trim().replace(/^\|/, "").replace(/\|$/, "").split(/(?<!\\)\|/).map((c) => c.trim());
}

/** Keys named in a table's first cell: backticked names outside parentheses (aliases). */
function keysOfCell(cell: string, line: number): string[] {
  const names = [...cell.replace(/\([^)]*\)/g, "").matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
  assert.ok(names.length > 0, `line ${line}: no key in ${JSON.stringify(cell)}`);
  for (const name of names) {
    assert.match(name, KEY_PATH, `line ${line}: ${JSON.stringify(name)} is not a key path`);
  }
  return names;
}

/**
 * The key tables of a reference. Throws when a marker is not followed by a
 * key table, or a key table (first header cell "key") has no marker: every
 * key table is checked, so none can drift unnoticed.
 */
function parseReference(markdown: string): KeyTable[] {
  const lines = markdown.split("\n");
  const tables: KeyTable[] = [];
  let inFence = false;
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!;
    if (/^\s*```/.test(text)) inFence = !inFence;
    if (inFence) continue;
    if (text.startsWith("|") && cellsOf(text)[0] === "key") {
      assert.fail(`line ${i + 1}: a key table without a config-keys comment before it`);
    }
    const marker = MARKER.exec(text.trim());
    if (!marker) continue;
    let row = i + 1;
    while (lines[row]?.trim() === "") row++;
    const header = lines[row] ?? "";
    assert.equal(
      cellsOf(header)[0],
      "key",
      `line ${i + 1}: the marker is not followed by a key table`,
    );
    const keys: string[] = [];
    for (row += 2; lines[row]?.startsWith("|"); row++) {
      keys.push(...keysOfCell(cellsOf(lines[row]!)[0] ?? "", row + 1));
    }
    const roles = marker[1]!.split(/\s+/).filter((role) => role !== "");
    for (const role of roles) {
      assert.ok(
        (CONFIG_FILE_ROLES as readonly string[]).includes(role),
        `line ${i + 1}: unknown role ${JSON.stringify(role)}`,
      );
    }
    tables.push({ line: i + 1, roles, at: marker[2]!, keys });
    i = row - 1;
  }
  return tables;
}

/** A path and every section above it: `servers[].pool.max_total` → `servers`, `servers[].pool`. */
function withParents(path: string): string[] {
  const segments = path.split(".");
  return segments.map((_, i) => segments.slice(0, i + 1).join(".").replace(/\[\]$/, ""));
}

/** Per role: keys its schema takes that the reference lacks, and documented keys it does not take. */
function compare(tables: readonly KeyTable[]): string[] {
  const differences: string[] = [];
  for (const role of CONFIG_FILE_ROLES) {
    const documented = new Set(
      tables.filter((table) => table.roles.includes(role)).flatMap((table) =>
        table.keys.flatMap((key) => withParents(table.at === "" ? key : `${table.at}.${key}`))
      ),
    );
    const accepted = new Set(keyPaths(SCHEMAS[role]));
    for (const path of accepted) {
      if (!documented.has(path)) differences.push(`${role}: \`${path}\` is not documented`);
    }
    for (const path of documented) {
      if (!accepted.has(path)) differences.push(`${role}: \`${path}\` is documented, not accepted`);
    }
  }
  return differences;
}

Deno.test("the config reference documents exactly the keys each role accepts", async () => {
  const tables = parseReference(await Deno.readTextFile(REFERENCE));
  assert.deepEqual(compare(tables), []);
  for (const role of CONFIG_FILE_ROLES) {
    assert.ok(tables.some((table) => table.roles.includes(role)), `no table for ${role}`);
  }
});

Deno.test("the reference check notices a missing row, an extra row and an unmarked table", async () => {
  const markdown = await Deno.readTextFile(REFERENCE);
  const withoutRow = markdown.replace(/^\| `missed_heartbeats` *\|.*\n/m, "");
  assert.notEqual(withoutRow, markdown, "the planted change must change something");
  assert.deepEqual(compare(parseReference(withoutRow)), [
    "hub: `missed_heartbeats` is not documented",
  ]);

  const withExtra = markdown.replace(
    /^(\| `find_nodes_max` *\|.*\n)/m,
    "$1| `find_exits_max` | whole number | `1` | — | Planted. |\n",
  );
  assert.notEqual(withExtra, markdown, "the planted change must change something");
  assert.deepEqual(compare(parseReference(withExtra)), [
    "hub: `find_exits_max` is documented, not accepted",
  ]);

  const unmarked = markdown.replace(/^<!-- config-keys roles="hub" at="relay" -->\n/m, "");
  assert.throws(() => parseReference(unmarked), /a key table without a config-keys comment/);
});
