import assert from "node:assert/strict";
import { checkCoreBoundary, findBoundaryViolations } from "../scripts/core_boundary.ts";

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
