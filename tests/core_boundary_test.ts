import assert from "node:assert/strict";
import { checkCoreBoundary, findBoundaryViolations } from "../scripts/core_boundary.ts";
import {
  findLayerViolations,
  formatViolation,
  mayImport,
  readSources,
  unitOf,
} from "../scripts/layers.ts";

const CORE = new URL("../core", import.meta.url).pathname;

Deno.test("core/ uses no I/O: no Deno API but Deno.test, no node I/O, no libp2p runtime, no transports", async () => {
  const violations = await checkCoreBoundary(CORE);
  assert.deepEqual(violations.map((v) => `${v.file}:${v.line}: ${v.found}`), []);
});

Deno.test("the boundary check catches each kind of violation", () => {
  const file = `${CORE}/domain/example.ts`;
  const text = [
    `import { connect } from "node:net";`,
    `import { createLibp2p } from "libp2p";`,
    `import { tcp } from "npm:@libp2p/tcp@11.0.28";`,
    `import { createConnectTransport } from "@connectrpc/connect-web";`,
    `import { thing } from "../../plugins/x/mod.ts";`,
    `const text = await Deno.readTextFile("x");`,
    `await fetch("http://example");`,
    `const m = await import("jsr:@std/fs");`,
  ].join("\n");
  const found = findBoundaryViolations(file, text, CORE).map((v) => v.line);
  assert.deepEqual(found, [1, 2, 3, 4, 5, 6, 7, 8]);
});

Deno.test("the boundary check allows pure code, Deno.test and comments", () => {
  const file = `${CORE}/domain/example.ts`;
  const text = [
    `import assert from "node:assert/strict";`,
    `import { z } from "zod";`,
    `import { peerIdFromString } from "@libp2p/peer-id";`,
    `import type { Clock } from "../ports/clock.ts";`,
    `// Deno.serve in a comment is fine`,
    `/** fetch("x") in a doc comment too */`,
    `Deno.test("x", async (t) => {});`,
  ].join("\n");
  assert.deepEqual(findBoundaryViolations(file, text, CORE), []);
});

// The layer rule (scripts/layers.ts): which folder may import which, over every folder.

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("every folder imports only the layers below it, and the folders form no cycle", async () => {
  const violations = findLayerViolations(await readSources(ROOT));
  assert.deepEqual(violations.map(formatViolation), []);
});

Deno.test("the layer check fails on a planted wrong-way import, naming file:line → target", async () => {
  const files = await readSources(ROOT);
  // A role service that imports a plugin, as hub/hub_node.ts once imported network-libp2p.
  const planted = new Map(files);
  planted.set(
    "hub/planted.ts",
    [
      `import type { PeerId } from "../core/ids.ts";`,
      `import { Libp2pNetwork } from "../plugins/network-libp2p/libp2p_network.ts";`,
    ].join("\n"),
  );
  assert.deepEqual(findLayerViolations(planted).map(formatViolation), [
    "hub/planted.ts:2 → plugins/network-libp2p/libp2p_network.ts: hub may import only core, " +
    "proto, wire, auth",
  ]);
});

Deno.test("the layer check reports a cycle between folders and a folder in no layer", () => {
  const files = new Map([
    ["wire/a.ts", `import { b } from "../auth/b.ts";`],
    [
      "auth/b.ts",
      `// a comment: import { a } from "../wire/a.ts";\nimport { a } from "../wire/a.ts";`,
    ],
    ["newfolder/x.ts", `export const x = 1;`],
    ["proxy/y_test.ts", `import { x } from "../plugins/socks5/mod.ts";`],
  ]);
  const found = findLayerViolations(files).map(formatViolation);
  assert.deepEqual(found, [
    "wire/a.ts:1 → auth/b.ts: wire may import only core, proto",
    'newfolder/x.ts:1 → newfolder/x.ts: "newfolder" is in no layer: add it to LAYER_RULE in ' +
    "scripts/layers.ts",
    "auth/b.ts:2 → wire/a.ts: cycle between folders: wire → auth → wire",
  ]);
});

Deno.test("units: a plugin folder is its own unit; plugins may not import each other", () => {
  assert.equal(unitOf("plugins/socks5/mod.ts"), "plugins/socks5");
  assert.equal(unitOf("plugins/builtin.ts"), "plugins");
  assert.equal(unitOf("mod.ts"), "mod.ts");
  assert.equal(mayImport("plugins/socks5", "wire"), true);
  assert.equal(mayImport("plugins/socks5", "plugins/_shared"), true);
  assert.equal(mayImport("plugins/socks5", "plugins/network-libp2p"), false);
  assert.equal(mayImport("plugins/socks5", "proxy"), false);
  assert.equal(mayImport("plugins", "plugins/socks5"), true);
  assert.equal(mayImport("proxy", "plugins/socks5"), false);
  assert.equal(mayImport("cli", "compose"), true);
  assert.equal(mayImport("compose", "cli"), false);
  assert.equal(mayImport("core", "wire"), false);
});
