import assert from "node:assert/strict";
import fc from "fast-check";
import { ConfigError, type ConfigProblem } from "./problems.ts";
import type { LoadOptions } from "./loader.ts";
import {
  API_KEY_HASH_PATTERN,
  AUTH_DEFAULT_PORT,
  DEFAULT_TOKEN_TTL_SECS,
  loadAuthConfig,
  parseListenSocket,
} from "./auth_config.ts";

const HASH_A = "sha256:47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU";
const HASH_B = "sha256:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564";

function load(text: string, options: Partial<LoadOptions> = {}) {
  return loadAuthConfig(text, { source: "Auth.yaml", ...options });
}

function problemsOf(text: string, options: Partial<LoadOptions> = {}): ConfigProblem[] {
  try {
    load(text, options);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    return [...error.problems];
  }
  return assert.fail("expected a ConfigError");
}

function messageAt(problems: readonly ConfigProblem[], path: string): string {
  const problem = problems.find((candidate) => candidate.path === path);
  assert.ok(problem, `no problem at ${path}; got ${JSON.stringify(problems, null, 1)}`);
  return problem.message;
}

Deno.test("auth config: defaults listen on loopback with no keys", () => {
  const config = load("");
  assert.deepEqual(config.listen, { hostname: "127.0.0.1", port: AUTH_DEFAULT_PORT });
  assert.equal(config.grpcPort, undefined);
  assert.equal(config.networkId, "p2proxy");
  assert.equal(config.issuer, "p2proxy-auth");
  assert.equal(config.tokenTtlMs, DEFAULT_TOKEN_TTL_SECS * 1000);
  assert.equal(config.stateDir, ".");
  assert.equal(config.signingKey, "auth_signing_key.pem");
  assert.deepEqual(config.previousSigningKeys, []);
  assert.deepEqual(config.apiKeys, []);
  assert.equal(config.logLevel, "info");
  assert.equal(config.tls, undefined);
});

Deno.test("auth config: every key", () => {
  const config = load(`
listen: "[::1]:9000"
grpc_port: 9001
network_id: acme-exits
issuer: https://auth.acme.example
token_ttl_secs: 600
state_dir: /var/lib/auth
signing_key: keys/current.pem
previous_signing_keys: [keys/old.pem]
log_level: debug
tls: { cert: /etc/auth/cert.pem, key: /etc/auth/key.pem }
api_keys:
  - { name: laptop, hash: ${HASH_A}, role: proxy }
  - { name: exits, hash: ${HASH_B}, role: Both }
`);
  assert.deepEqual(config.listen, { hostname: "::1", port: 9000 });
  assert.equal(config.grpcPort, 9001);
  assert.equal(config.networkId, "acme-exits");
  assert.equal(config.issuer, "https://auth.acme.example");
  assert.equal(config.tokenTtlMs, 600_000);
  assert.equal(config.stateDir, "/var/lib/auth");
  assert.equal(config.signingKey, "keys/current.pem");
  assert.deepEqual(config.previousSigningKeys, ["keys/old.pem"]);
  assert.equal(config.logLevel, "debug");
  assert.deepEqual(config.tls, { certFile: "/etc/auth/cert.pem", keyFile: "/etc/auth/key.pem" });
  assert.deepEqual(config.apiKeys, [
    { name: "laptop", hash: HASH_A, role: "proxy" },
    { name: "exits", hash: HASH_B, role: "both" },
  ]);
});

Deno.test("auth config: the environment and flags override the file", () => {
  const config = load("network_id: file\ntoken_ttl_secs: 60\n", {
    env: {
      P2PROXY_NETWORK_ID: "env-net",
      P2PROXY_LISTEN: "127.0.0.1:0",
      P2PROXY_GRPC_PORT: "0",
      PORT: "1",
    },
    overrides: { token_ttl_secs: 5 },
  });
  assert.equal(config.networkId, "env-net");
  assert.deepEqual(config.listen, { hostname: "127.0.0.1", port: 0 });
  assert.equal(config.grpcPort, 0);
  assert.equal(config.tokenTtlMs, 5000);
});

Deno.test("auth config: every problem at once, with did-you-mean", () => {
  const problems = problemsOf(`
listen: localhost:8443
grpc_port: 8443
network_id: "bad id"
token_ttl_secs: 1
token_ttl_sec: 5
api_keys:
  - { name: a, hash: ${HASH_A}, role: proxy }
  - { name: a, hash: ${HASH_A}, role: exits }
  - { name: b, hash: "p2pk_secretsecretsecret", role: proxy }
  - { name: c, hash: "md5:abc", role: exit, extra: 1 }
`);
  assert.match(messageAt(problems, "listen"), /localhost.*127\.0\.0\.1/);
  assert.match(messageAt(problems, "network_id"), /network id/);
  assert.match(messageAt(problems, "token_ttl_secs"), /at least 2/);
  assert.match(messageAt(problems, "token_ttl_sec"), /Did you mean `token_ttl_secs`/);
  assert.match(messageAt(problems, "api_keys[1].name"), /used twice \(also entry 0\)/);
  assert.match(messageAt(problems, "api_keys[1].hash"), /listed twice/);
  assert.match(messageAt(problems, "api_keys[1].role"), /Did you mean `exit`/);
  const pasted = messageAt(problems, "api_keys[2].hash");
  assert.match(pasted, /API key itself/);
  assert.ok(!pasted.includes("secretsecret"), "a pasted key must never be echoed");
  assert.match(messageAt(problems, "api_keys[3].hash"), /sha256:/);
  assert.match(messageAt(problems, "api_keys[3].extra"), /Unknown key/);
});

Deno.test("auth config: the gRPC port must differ from the listen port", () => {
  const problems = problemsOf("grpc_port: 8443\n");
  assert.match(messageAt(problems, "grpc_port"), /also the port of `listen`/);
  assert.equal(load("listen: 127.0.0.1:0\ngrpc_port: 0\n").grpcPort, 0);
});

Deno.test("auth config: a JSON file works too", () => {
  const config = loadAuthConfig(
    JSON.stringify({ network_id: "n", api_keys: [{ name: "k", hash: HASH_A, role: "exit" }] }),
    { source: "Auth.json" },
  );
  assert.equal(config.networkId, "n");
  assert.equal(config.apiKeys[0]?.role, "exit");
});

Deno.test("parseListenSocket accepts host:port forms and rejects the rest", () => {
  assert.deepEqual(parseListenSocket("0.0.0.0:1"), {
    ok: true,
    value: { hostname: "0.0.0.0", port: 1 },
  });
  assert.deepEqual(parseListenSocket("[::]:65535"), {
    ok: true,
    value: { hostname: "::", port: 65535 },
  });
  for (const bad of ["127.0.0.1", "127.0.0.1:65536", ":80", "example.com:80", "1.2.3.4:x"]) {
    assert.equal(parseListenSocket(bad).ok, false, bad);
  }
  fc.assert(fc.property(fc.ipV4(), fc.integer({ min: 0, max: 65535 }), (ip, port) => {
    const parsed = parseListenSocket(`${ip}:${port}`);
    return parsed.ok && parsed.value.port === port;
  }));
});

Deno.test("the hash pattern matches 32-byte base64url SHA-256 digests only", () => {
  assert.ok(API_KEY_HASH_PATTERN.test(HASH_A));
  assert.ok(!API_KEY_HASH_PATTERN.test(HASH_A.slice(0, -1)));
  assert.ok(!API_KEY_HASH_PATTERN.test(HASH_A.replace("sha256", "sha512")));
});
