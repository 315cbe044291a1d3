import assert from "node:assert/strict";
import { type CpuProfile, packageOf, summarize } from "./cpu_profile.ts";

const root = new URL("../../", import.meta.url).href;

Deno.test("packageOf names npm packages, project files and the runtime", () => {
  assert.equal(
    packageOf(
      `${root}node_modules/.deno/@chainsafe+libp2p-noise@17.0.0/node_modules/@chainsafe/libp2p-noise/dist/src/crypto.js`,
    ),
    "@chainsafe/libp2p-noise",
  );
  assert.equal(
    packageOf(`${root}node_modules/.deno/libp2p@3.3.11/node_modules/libp2p/dist/src/index.js`),
    "libp2p",
  );
  assert.equal(packageOf(`${root}runtime/relay.ts`), "runtime/relay.ts");
  assert.equal(packageOf("ext:deno_node/internal/buffer.mjs"), "deno runtime (ext:deno_node)");
});

Deno.test("summarize ranks self time by function and by package", () => {
  const profile: CpuProfile = {
    startTime: 0,
    endTime: 2_000_000,
    nodes: [
      { id: 1, callFrame: { functionName: "(root)", url: "", lineNumber: -1 }, hitCount: 0 },
      {
        id: 2,
        callFrame: { functionName: "relay", url: `${root}runtime/relay.ts`, lineNumber: 9 },
        hitCount: 3,
      },
      { id: 3, callFrame: { functionName: "(idle)", url: "", lineNumber: -1 }, hitCount: 1 },
    ],
  };
  const summary = summarize(profile);
  assert.equal(summary.sampledMs, 2000);
  assert.deepEqual(summary.byFunction[0], { name: "relay runtime/relay.ts:10", selfPercent: 75 });
  assert.deepEqual(summary.byPackage.map((p) => p.name), ["runtime/relay.ts", "(idle)"]);
});
