import assert from "node:assert/strict";
import { P2proxyError } from "../errors.ts";
import {
  ConfigError,
  describeKind,
  describeValue,
  formatPath,
  formatProblems,
  quote,
} from "./problems.ts";

Deno.test("formatPath: dots, indexes and quoted odd keys", () => {
  assert.equal(formatPath([]), "");
  assert.equal(formatPath(["servers", 1, "pool", "max_total"]), "servers[1].pool.max_total");
  assert.equal(formatPath(["plugins", "@p2proxy/sticky-file"]), 'plugins["@p2proxy/sticky-file"]');
  assert.equal(formatPath(["x-y", "a b"]), 'x-y["a b"]');
});

Deno.test("formatProblems: a header and one line per problem", () => {
  const text = formatProblems([
    { path: "servers[0].port", message: "Must be at most 65535, got 70000.", line: 4 },
    { path: "P2PROXY_PORT", message: 'Expected a whole number, got "x".' },
    { path: "", message: "Invalid YAML: bad.", line: 9 },
  ], "Config.yaml");
  assert.equal(
    text,
    [
      "Config.yaml has 3 problems:",
      "  - line 4, servers[0].port: Must be at most 65535, got 70000.",
      '  - P2PROXY_PORT: Expected a whole number, got "x".',
      "  - line 9: Invalid YAML: bad.",
    ].join("\n"),
  );
  assert.match(formatProblems([{ path: "a", message: "m" }], "c.json"), /^c\.json has 1 problem:/);
});

Deno.test("ConfigError: a P2proxyError whose message lists its problems", () => {
  const problems = [{ path: "a", message: "First." }, { path: "b", message: "Second." }];
  const error = new ConfigError("unreadable", "Config.yaml", problems);
  assert.ok(error instanceof P2proxyError);
  assert.equal(error.name, "ConfigError");
  assert.equal(error.code, "unreadable");
  assert.equal(error.source, "Config.yaml");
  assert.deepEqual(error.problems, problems);
  assert.equal(error.message, formatProblems(problems, "Config.yaml"));
});

Deno.test("describeValue, describeKind and quote", () => {
  assert.equal(describeValue("x"), 'the string "x"');
  assert.equal(describeValue(5), "the number 5");
  assert.equal(describeValue(null), "an empty value");
  assert.equal(describeValue([1]), "a list");
  assert.equal(describeValue({}), "a mapping");
  assert.equal(describeKind("secret"), "a string");
  assert.equal(describeKind(1234), "a number");
  assert.equal(quote("a".repeat(100)).length, 63);
});
