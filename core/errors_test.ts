import assert from "node:assert/strict";
import fc from "fast-check";
import { describeError } from "./errors.ts";

Deno.test("describeError drops pasted stack frames and folds lines", () => {
  const pasted = new Error(
    "Some addresses failed:\n\n  /ip4/127.0.0.1/tcp/1: Error: connect ECONNREFUSED 127.0.0.1:1\n" +
      "      at __node_internal_exceptionWithHostPort (ext:deno_node/internal/errors.ts:1:3772)\n" +
      "      at TCPConnectWrap._afterConnect [as oncomplete] (ext:deno_node/net.ts:1:5642)\n",
  );
  assert.equal(
    describeError(pasted),
    "Some addresses failed: /ip4/127.0.0.1/tcp/1: Error: connect ECONNREFUSED 127.0.0.1:1",
  );
  assert.equal(describeError("plain"), "plain");
  assert.equal(describeError(new Error("at the start is fine")), "at the start is fine");
});

Deno.test("describeError is always one line", () => {
  fc.assert(fc.property(fc.string(), (message) => {
    assert.ok(!describeError(new Error(message)).includes("\n"));
  }));
});
