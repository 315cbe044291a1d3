import assert from "node:assert/strict";
import { patternBytes } from "./pattern.ts";

Deno.test("patternBytes is deterministic, sized, and not trivially periodic", () => {
  const a = patternBytes(4096);
  assert.equal(a.byteLength, 4096);
  assert.deepEqual(a, patternBytes(4096));
  // A body shifted by one byte must not match: reordering or loss would show.
  assert.notDeepEqual(a.subarray(1, 2049), a.subarray(0, 2048));
  // Each size has its own body.
  assert.notDeepEqual(patternBytes(4097).subarray(0, 4096), a);
  const distinct = new Set(a);
  assert.ok(distinct.size > 200, `only ${distinct.size} distinct byte values`);
});
