import assert from "node:assert/strict";
import fc from "fast-check";
import { shellWords } from "../scripts/cluster.ts";
import { shellQuote } from "./role_permissions.ts";

Deno.test("a quoted line reads back as the same words, whatever they hold", () => {
  fc.assert(
    fc.property(fc.array(fc.string({ unit: "binary" }), { minLength: 1 }), (words) => {
      assert.deepEqual(shellWords(words.map(shellQuote).join(" ")), words);
    }),
  );
});

Deno.test("plain flags stay unquoted; globs, spaces and quotes are quoted", () => {
  assert.equal(shellQuote("--allow-read=/tmp/a,deno.json"), "--allow-read=/tmp/a,deno.json");
  assert.equal(shellQuote("--allow-env=P2PROXY_*"), "'--allow-env=P2PROXY_*'");
  assert.equal(shellQuote("my state"), "'my state'");
  assert.equal(shellQuote("it's"), `'it'\\''s'`);
});
