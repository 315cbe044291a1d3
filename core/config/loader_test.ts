import assert from "node:assert/strict";
import fc from "fast-check";
import { ConfigError, type ConfigProblem } from "./problems.ts";
import { ENV_PREFIX, envBinding, flagOf, type LoadOptions } from "./loader.ts";
import { loadProxyConfig, PROXY_ENV } from "./proxy_config.ts";
import { EXIT_ENV, loadExitConfig } from "./exit_config.ts";
import { HUB_ENV, loadHubConfig } from "./hub_config.ts";

const LOADERS = [loadProxyConfig, loadExitConfig, loadHubConfig] as const;

function errorOf(load: () => unknown): ConfigError {
  try {
    load();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    return error;
  }
  return assert.fail("expected a ConfigError");
}

/** A hub, so that proxy configs here have a route (a server without one is refused). */
const HUB = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWS6M2cP13vSHoPXVYbmYvhFgZowNrwyy7VkvbEUgXiXGZ";

function proxyError(text: string, options: Partial<LoadOptions> = {}): ConfigError {
  return errorOf(() => loadProxyConfig(text, { source: "Config.yaml", ...options }));
}

Deno.test("loader: YAML syntax errors carry a line and the syntax code", () => {
  const error = proxyError("servers:\n  - port: 1080\n    country: [NL\nlog_level: info\n");
  assert.equal(error.code, "syntax");
  assert.ok(error.problems.length >= 1);
  const [first] = error.problems;
  assert.ok(first?.line !== undefined && first.line >= 3, JSON.stringify(error.problems));
  assert.match(first.message, /^Invalid YAML: /);
});

Deno.test("loader: a YAML syntax error points at its line and column", () => {
  const error = errorOf(() =>
    loadHubConfig("log_level: info\nrelay: max: 5\n", { source: "Hub.yaml" })
  );
  assert.equal(error.code, "syntax");
  assert.deepEqual(error.problems.map((p) => [p.line, p.column]), [[2, 8]]);
  assert.match(error.message, /^Hub\.yaml has 1 problem:\n {2}- line 2, column 8: Invalid YAML: /);
});

Deno.test("loader: duplicate keys are a syntax error at the second one", () => {
  const error = proxyError("servers: [{ port: 1080 }]\nlog_level: info\nlog_level: debug\n");
  assert.equal(error.code, "syntax");
  assert.equal(error.problems[0]?.line, 3);
});

Deno.test("loader: JSON syntax errors carry a line", () => {
  const text = '{\n  "servers": [\n    { "port": 1080, }\n  ]\n}\n';
  const error = errorOf(() => loadProxyConfig(text, { source: "config.JSON" }));
  assert.equal(error.code, "syntax");
  assert.equal(error.problems[0]?.line, 3);
  assert.equal(error.problems[0]?.column, 21, "the `}` after the trailing comma");
  assert.match(error.problems[0]?.message ?? "", /not valid JSON/);
  assert.doesNotMatch(error.problems[0]?.message ?? "", /position/, "the column says it");
});

Deno.test("loader: format json parses a text whose source is not a file name as JSON", () => {
  const text = '{ "log_level": "debug" }';
  assert.equal(
    loadHubConfig(text, { source: "the environment", format: "json" }).logLevel,
    "debug",
  );
  // YAML would take `log_level: debug` (and a JSON parser refuses it, naming JSON).
  const error = errorOf(() =>
    loadHubConfig("log_level: debug", { source: "the environment", format: "json" })
  );
  assert.equal(error.code, "syntax");
  assert.match(error.message, /^the environment has 1 problem:\n.*not valid JSON/);
});

Deno.test("loader: JSON errors: a cut-off file points at its end; V8's quote of the text is dropped", () => {
  const cut = errorOf(() => loadHubConfig('{\n  "log_level": ', { source: "hub.json" }));
  assert.deepEqual(cut.problems.map((p) => [p.line, p.column]), [[2, 16]]);
  const token = errorOf(() => loadHubConfig('{\n  "relay": [1,]\n}', { source: "hub.json" }));
  assert.equal(token.code, "syntax");
  assert.doesNotMatch(token.message, /\n.*\n.*\n/, "one line per problem");
  assert.match(token.problems[0]?.message ?? "", /^The file is not valid JSON: Unexpected token/);
});

Deno.test("loader: the file must be a mapping", () => {
  for (const text of ["- a\n- b\n", "just words", "42"]) {
    const error = proxyError(text);
    assert.equal(error.code, "invalid");
    assert.equal(error.problems.length, 1);
    assert.match(error.problems[0]?.message ?? "", /must be a mapping/);
  }
});

Deno.test("loader: an empty file gives the defaults where nothing is required", () => {
  assert.equal(loadExitConfig("", { source: "Exit.yaml" }).metricsPort, 9092);
  assert.equal(loadHubConfig("# nothing\n", { source: "Hub.yaml" }).metricsPort, 9093);
  assert.match(proxyError("").problems[0]?.message ?? "", /needs `servers`/);
});

Deno.test("loader: a byte-order mark is ignored", () => {
  const config = loadProxyConfig(`\uFEFFbootstrap: [${HUB}]\nservers: [{ port: 1080 }]`, {
    source: "Config.yaml",
  });
  assert.equal(config.servers[0]?.port, 1080);
});

Deno.test("loader: alias bombs and huge files are refused", () => {
  const bomb = [
    "a: &a [x, x, x, x, x, x, x, x, x, x]",
    ...Array.from({ length: 8 }, (_, i) => {
      const ref = i === 0 ? "a" : `a${i}`;
      return `a${i + 1}: &a${
        i + 1
      } [*${ref}, *${ref}, *${ref}, *${ref}, *${ref}, *${ref}, *${ref}, *${ref}, *${ref}, *${ref}]`;
    }),
  ].join("\n");
  assert.equal(proxyError(bomb).code, "syntax");
  assert.equal(proxyError(`servers: []\n#${"x".repeat(2_000_000)}`).code, "syntax");
});

Deno.test("loader: YAML anchors and merge keys work; x- keys hold anchors", () => {
  const text = "x-defaults: &d\n  country: NL\n  min_bandwidth: 10Mbps\n" +
    "servers:\n  - <<: *d\n    port: 1080\n  - <<: *d\n    port: 1081\n    country: DE\n" +
    `bootstrap: [${HUB}]\n`;
  const config = loadProxyConfig(text, { source: "Config.yaml" });
  assert.deepEqual(
    config.servers.map((s) => [s.port, s.filters.country, s.filters.minBandwidthBps]),
    [
      [1080, "NL", 10_000_000],
      [1081, "DE", 10_000_000],
    ],
  );
  const error = proxyError(text.replace("x-defaults", "defaults"));
  assert.deepEqual(error.problems.map((p) => p.path), ["defaults"]);
});

Deno.test("loader: env bindings use the P2PROXY_ prefix and upper snake case", () => {
  assert.deepEqual(envBinding("metrics_port", "integer"), {
    variable: "P2PROXY_METRICS_PORT",
    key: "metrics_port",
    kind: "integer",
  });
  assert.equal(flagOf("log_level"), "--log-level");
  for (const binding of [...PROXY_ENV, ...EXIT_ENV, ...HUB_ENV]) {
    assert.ok(binding.variable.startsWith(ENV_PREFIX), binding.variable);
    assert.match(binding.variable, /^P2PROXY_[A-Z_]+$/);
  }
});

Deno.test("loader: problems from several layers are all reported", () => {
  const error = proxyError("servers: [{ port: 0 }]\n", {
    env: { P2PROXY_METRICS_PORT: "x", P2PROXY_BOOTSTRAP: HUB },
    overrides: { log_level: "chatty" },
  });
  const paths = error.problems.map((p: ConfigProblem) => p.path).sort();
  assert.deepEqual(paths, ["--log-level", "P2PROXY_METRICS_PORT", "servers[0].port"]);
});

/** Text made of YAML's punctuation and p2proxy's keys and values, to reach deep into the loaders. */
const yamlishText = fc.array(
  fc.oneof(
    fc.constantFrom(
      "servers:",
      "\n",
      "\n  - ",
      "\n    ",
      "  ",
      "port: ",
      "1080",
      "70000",
      "-1",
      "country: ",
      "NL",
      "Atlantis",
      "min_bandwidth: ",
      "50Mbps",
      "50",
      "destination_peers: ",
      "[",
      "]",
      "{",
      "}",
      ", ",
      ": ",
      "- ",
      "&a ",
      "*a",
      "<<: ",
      "!!binary ",
      "!!str ",
      "!custom ",
      '"',
      "'",
      "# c",
      "null",
      "~",
      "true",
      "yes",
      "3.5",
      ".inf",
      ".nan",
      "0x1F",
      "bind: ",
      "0.0.0.0",
      "users: ",
      "username: ",
      "password: ",
      "pool: ",
      "max_total: ",
      "attributes: ",
      "egress: ",
      "allow_cidrs: ",
      "10.0.0.1/8",
      "relay: ",
      "listen_addrs: ",
      "/ip4/0.0.0.0/tcp/0",
      "bootstrap: ",
      "plugins: ",
      "auth: ",
      "__proto__: ",
      "constructor: ",
      "isp: ",
      "(a+)+",
      "asn: ",
      "AS1",
      "12D3KooWS6M2cP13vSHoPXVYbmYvhFgZowNrwyy7VkvbEUgXiXGZ",
      "/p2p/",
      "---",
      "...",
      "\t",
      "%YAML 1.2\n",
      "? ",
      "|\n  x",
      ">\n  y",
    ),
    fc.string({ maxLength: 8 }),
  ),
  { maxLength: 40 },
).map((parts) => parts.join(""));

Deno.test("loader: arbitrary YAML-ish text throws nothing but ConfigError", () => {
  fc.assert(
    fc.property(yamlishText, fc.constantFrom(...LOADERS), (text, load) => {
      try {
        load(text, { source: "Config.yaml", env: { P2PROXY_PORT: "1" } });
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        assert.ok(error.problems.length > 0);
      }
    }),
    { numRuns: 1500 },
  );
});

Deno.test("loader: arbitrary JSON values throw nothing but ConfigError", () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 5 }), fc.constantFrom(...LOADERS), (value, load) => {
      const text = JSON.stringify(value);
      for (const source of ["config.json", "config.yaml"]) {
        try {
          load(text, { source });
        } catch (error) {
          if (!(error instanceof ConfigError)) throw error;
        }
      }
    }),
    { numRuns: 500 },
  );
});

Deno.test("loader: arbitrary env and overrides throw nothing but ConfigError", () => {
  const variables = [...new Set([...PROXY_ENV, ...EXIT_ENV, ...HUB_ENV].map((b) => b.variable))];
  const keys = [...new Set([...PROXY_ENV, ...EXIT_ENV, ...HUB_ENV].map((b) => b.key))];
  fc.assert(
    fc.property(
      fc.dictionary(fc.constantFrom(...variables), fc.string({ maxLength: 12 })),
      fc.dictionary(fc.constantFrom(...keys, "servers", "nope"), fc.jsonValue({ maxDepth: 2 })),
      fc.constantFrom(...LOADERS),
      (env, overrides, load) => {
        try {
          load("servers: [{ port: 1080 }]", { source: "c.yaml", env, overrides });
        } catch (error) {
          if (!(error instanceof ConfigError)) throw error;
        }
      },
    ),
    { numRuns: 500 },
  );
});
