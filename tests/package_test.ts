/**
 * Package truth: what `deno publish` would ship (the real dry run, offline) holds
 * no tests, test data, keys or unreachable helpers, carries every export and the
 * LICENSE, and prints no warning that is not excused where it occurs.
 *
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  checkPackage,
  IGNORE_DIRECTIVE,
  packageProblems,
  parseDryRunOutput,
  unexcusedDiagnostics,
} from "../scripts/publish_check.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
const CONFIG = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`)) as {
  license: string;
  exports: Record<string, string>;
  tasks: Record<string, string>;
};

Deno.test("the package deno publish would ship: every export, no tests, test data, keys or helpers", async () => {
  const { files, failures } = await checkPackage(ROOT);
  assert.deepEqual(failures, []);
  for (const [name, target] of Object.entries(CONFIG.exports)) {
    assert.ok(files.includes(target.replace(/^\.\//, "")), `export "${name}" (${target}) ships`);
  }
  assert.deepEqual(files.filter((f) => /_test\.ts$|testdata\/|\.(key|pem)$|keypair/.test(f)), []);
  assert.deepEqual(files.filter((f) => /^(tests|scripts|examples)\//.test(f)), []);
});

Deno.test("LICENSE is the license deno.json declares", async () => {
  assert.equal(CONFIG.license, "MIT");
  const license = await Deno.readTextFile(`${ROOT}/LICENSE`);
  assert.match(license, /^MIT License\n\nCopyright \(c\) \d{4} the p2proxy authors\n/);
});

Deno.test("the test task runs the doc lint over every export and the publish check", () => {
  const docLint = CONFIG.tasks["doc:lint"] ?? "";
  for (const target of Object.values(CONFIG.exports)) {
    assert.ok(
      docLint.split(/\s+/).includes(target.replace(/^\.\//, "")),
      `doc:lint covers ${target}`,
    );
  }
  const test = CONFIG.tasks["test"] ?? "";
  assert.match(test, /deno task doc:lint/);
  assert.match(test, /deno task publish:check/);
});

Deno.test("the package policy flags each kind of unwanted file", () => {
  const files = [
    "LICENSE",
    "README.md",
    "deno.json",
    "mod.ts",
    "core/ids.ts",
    "core/ids_test.ts",
    "runtime/auth/testdata/localhost.crt",
    "runtime/auth/localhost.key",
    "certs/server.pem",
    "state/node_keypair.bin",
    "tests/_cli.ts",
    "scripts/bench.ts",
    "runtime/_fake_network.ts",
    "runtime/auth/mod.ts",
    "sticky_peers.json",
  ];
  const reachable = new Set(["mod.ts", "core/ids.ts"]);
  assert.deepEqual(packageProblems(files, reachable).map((p) => p.file), [
    "core/ids_test.ts",
    "runtime/auth/testdata/localhost.crt",
    "runtime/auth/localhost.key",
    "certs/server.pem",
    "state/node_keypair.bin",
    "tests/_cli.ts",
    "scripts/bench.ts",
    "runtime/_fake_network.ts",
    "sticky_peers.json",
  ]);
  assert.deepEqual(packageProblems(["mod.ts", "deno.json"], undefined).map((p) => p.file), [
    "LICENSE",
    "README.md",
  ]);
});

const SAMPLE_OUTPUT = [
  "Checking for slow types in the public API...",
  "\x1b[1m\x1b[33mwarning[unanalyzable-dynamic-import]\x1b[0m: unable to analyze dynamic import",
  "  --> /pkg/cli/plugin_loader.ts:76:29",
  "   |",
  "error[excluded-module]: module in package's module graph was excluded from publishing",
  " --> /pkg/runtime/relay.ts",
  "Simulating publish of @p2proxy/p2proxy@0.1.0 with files:",
  "   file:///pkg/mod.ts (384B)",
  "   file:///pkg/core/ids.ts (2.1KB)",
].join("\n");

Deno.test("the dry run's output is parsed into files and diagnostics", () => {
  const parsed = parseDryRunOutput(SAMPLE_OUTPUT, "/pkg");
  assert.deepEqual(parsed.files, ["core/ids.ts", "mod.ts"]);
  assert.deepEqual(parsed.diagnostics, [
    {
      level: "warning",
      code: "unanalyzable-dynamic-import",
      message: "unable to analyze dynamic import",
      file: "cli/plugin_loader.ts",
      line: 76,
    },
    {
      level: "error",
      code: "excluded-module",
      message: "module in package's module graph was excluded from publishing",
      file: "runtime/relay.ts",
    },
  ]);
});

Deno.test("a warning is excused only by a directive with its code and a reason on the line above", () => {
  const warning = {
    level: "warning" as const,
    code: "unanalyzable-dynamic-import",
    message: "unable to analyze dynamic import",
    file: "cli/plugin_loader.ts",
    line: 2,
  };
  const excusedBy = (above: string) =>
    unexcusedDiagnostics([warning], (_file, line) => (line === 1 ? above : "x")).length === 0;
  assert.equal(
    excusedBy(`  // ${IGNORE_DIRECTIVE} unanalyzable-dynamic-import -- run-time list`),
    true,
  );
  assert.equal(
    excusedBy(`  // ${IGNORE_DIRECTIVE} unanalyzable-dynamic-import`),
    false,
    "no reason",
  );
  assert.equal(excusedBy(`  // ${IGNORE_DIRECTIVE} other-code -- reason`), false, "other code");
  assert.equal(excusedBy(`  const x = 1;`), false);
  const error = { ...warning, level: "error" as const };
  assert.equal(
    unexcusedDiagnostics([error], () => `// ${IGNORE_DIRECTIVE} unanalyzable-dynamic-import -- r`)
      .length,
    1,
    "errors are never excused",
  );
});
