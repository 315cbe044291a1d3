/**
 * The auth service over real HTTP (docs/wire-protocols.md#auth-service): IssueToken and PublicKeys
 * over the Connect protocol (binary and JSON), gRPC-web and gRPC (h2c), the
 * offline verifier against the keys it fetched, key rotation, and the
 * `auth add-key` / `auth serve` commands as subprocesses.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { base64url } from "jose";
import { parse as parseYaml } from "yaml";
import { FileIdentity } from "../plugins/identity-file/file_identity.ts";
import { appendApiKey } from "../cli/commands/auth.ts";
import { loadAuthConfig } from "../core/config/auth_config.ts";
import {
  freePort,
  startTestAuthService,
  TEST_NETWORK_ID,
  type TestAuthService,
} from "../auth-service/_test_support.ts";
import { hashApiKey } from "../auth-service/api_keys.ts";
import {
  AUTH_TRANSPORTS,
  AuthServiceClient,
  type AuthTransportKind,
  describeRpcFailure,
} from "../auth/client.ts";
import { signIssueTokenRequest } from "../auth/issue_request.ts";
import { generateSigningKey } from "../auth-service/signing_key.ts";
import { readUnverifiedClaims } from "../auth/token.ts";
import { RemoteKeySet, TokenVerifier } from "../auth/token_verifier.ts";
import { startAuthServer } from "../auth-service/server.ts";
import { HEALTH_PATH } from "../auth-service/fetch_handler.ts";
import { plugin as authConnect } from "../plugins/auth-connect/mod.ts";
import type { PluginContext } from "../core/plugin/contract.ts";
import { SystemClock } from "../plugins/clock-system/system_clock.ts";

/** The base URL a transport talks to. */
function urlFor(service: TestAuthService, transport: AuthTransportKind): string {
  if (transport !== "grpc") return service.server.url;
  assert.ok(service.server.grpcUrl, "the test service has no gRPC port");
  return service.server.grpcUrl;
}

/** Runs `fn` with a client of each transport, closing it afterwards. */
async function withClient(
  service: TestAuthService,
  transport: AuthTransportKind,
  fn: (client: AuthServiceClient) => Promise<void>,
): Promise<void> {
  const client = new AuthServiceClient({
    url: urlFor(service, transport),
    transport,
    timeoutMs: 5000,
  });
  try {
    await fn(client);
  } finally {
    client.close();
  }
}

/** The Connect code a refused call ends with. */
async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (error) {
    return describeRpcFailure(error).code;
  }
  return assert.fail("the call was expected to be refused");
}

Deno.test("IssueToken over each transport: tokens the verifier accepts, refusals with codes", async (t) => {
  await using service = await startTestAuthService({ grpc: true });
  const alice = await FileIdentity.generate();
  const bob = await FileIdentity.generate();
  const mallory = await FileIdentity.generate();

  for (const transport of AUTH_TRANSPORTS) {
    await t.step(transport, async () => {
      await withClient(service, transport, async (client) => {
        const keys = new RemoteKeySet({
          url: urlFor(service, transport),
          transport,
          clock: new SystemClock(),
        });
        await keys.start();
        try {
          assert.deepEqual(keys.keyIds, [service.signingKey.kid]);
          const verifier = new TokenVerifier({ keys, networkId: TEST_NETWORK_ID });
          const request = (identity = alice, overrides = {}) =>
            signIssueTokenRequest(identity, {
              apiKey: service.apiKeys.proxy,
              role: "proxy",
              timestampMs: Date.now(),
              ...overrides,
            });

          // Good key: a token for alice as proxy, accepted only from alice and only as proxy.
          const issued = await client.issueToken(await request());
          assert.equal(readUnverifiedClaims(issued.token)?.sub, alice.peerId);
          const verdict = await verifier.verify(issued.token, {
            peerId: alice.peerId,
            role: "proxy",
          });
          assert.ok(verdict.ok, verdict.ok ? "" : verdict.message);
          assert.equal(BigInt(verdict.claims.exp) * 1000n, issued.expiresAtMs);
          const fromBob = await verifier.verify(issued.token, {
            peerId: bob.peerId,
            role: "proxy",
          });
          assert.equal(fromBob.ok ? "ok" : fromBob.code, "wrong-peer");

          const exit = await client.issueToken(
            await request(alice, { apiKey: service.apiKeys.exit, role: "exit" }),
          );
          const asProxy = await verifier.verify(exit.token, {
            peerId: alice.peerId,
            role: "proxy",
          });
          assert.equal(asProxy.ok ? "ok" : asProxy.code, "wrong-role");

          // Refusals keep their codes across the transport.
          assert.equal(
            await codeOf(client.issueToken(await request(alice, { apiKey: "p2pk_wrong" }))),
            "unauthenticated",
          );
          assert.equal(
            await codeOf(client.issueToken(await request(alice, { role: "exit" }))),
            "permission_denied",
          );
          assert.equal(
            await codeOf(
              client.issueToken(await request(alice, { timestampMs: Date.now() - 600_000 })),
            ),
            "failed_precondition",
          );
          const signed = await request();
          const badSignature = Uint8Array.from(signed.signature);
          badSignature[0]! ^= 0x80;
          assert.equal(
            await codeOf(client.issueToken({ ...signed, signature: badSignature })),
            "unauthenticated",
          );
          // Bob's public key with a valid signature by Mallory's key: refused.
          const bobKeyMallorySig = await signIssueTokenRequest(
            {
              peerId: mallory.peerId,
              publicKey: bob.publicKey,
              privateKey: mallory.privateKey,
              sign: (data) => mallory.sign(data),
            },
            { apiKey: service.apiKeys.proxy, role: "proxy", timestampMs: Date.now() },
          );
          assert.equal(await codeOf(client.issueToken(bobKeyMallorySig)), "unauthenticated");
          assert.equal(
            describeRpcFailure(await client.issueToken(bobKeyMallorySig).catch((e) => e)).kind,
            "refused",
          );
        } finally {
          await keys.stop();
        }
      });
    });
  }
});

Deno.test("the Connect protocol's JSON form works with plain fetch; health and 404 answer", async () => {
  await using service = await startTestAuthService();
  const alice = await FileIdentity.generate();
  const signed = await signIssueTokenRequest(alice, {
    apiKey: service.apiKeys.both,
    role: "exit",
    timestampMs: Date.now(),
  });
  const body = {
    apiKey: signed.apiKey,
    publicKey: btoa(String.fromCharCode(...signed.publicKey)),
    timestampMs: String(signed.timestampMs),
    signature: btoa(String.fromCharCode(...signed.signature)),
    role: signed.role,
  };
  const response = await fetch(`${service.server.url}/p2proxy.auth.v1.AuthService/IssueToken`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 200);
  const json = await response.json();
  assert.equal(readUnverifiedClaims(json.token)?.role, "exit");
  assert.match(json.expiresAtMs, /^\d+$/);

  const refused = await fetch(`${service.server.url}/p2proxy.auth.v1.AuthService/IssueToken`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...body, apiKey: "nope" }),
  });
  assert.equal(refused.status, 401);
  assert.equal((await refused.json()).code, "unauthenticated");

  const keys = await fetch(`${service.server.url}/p2proxy.auth.v1.AuthService/PublicKeys`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  const published = (await keys.json()).keys;
  assert.equal(published.length, 1);
  assert.equal(published[0].keyId, service.signingKey.kid);

  const health = await fetch(`${service.server.url}${HEALTH_PATH}`);
  assert.equal(await health.text(), "ok\n");
  const missing = await fetch(`${service.server.url}/nothing`);
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
});

Deno.test("tampered and expired tokens fetched over the wire are rejected", async () => {
  await using service = await startTestAuthService({ ttlSecs: 60 });
  const alice = await FileIdentity.generate();
  await withClient(service, "connect", async (client) => {
    const { token } = await client.issueToken(
      await signIssueTokenRequest(alice, {
        apiKey: service.apiKeys.proxy,
        role: "proxy",
        timestampMs: Date.now(),
      }),
    );
    const keys = new RemoteKeySet({ url: service.server.url, clock: new SystemClock() });
    await keys.start();
    try {
      const expect = { peerId: alice.peerId, role: "proxy" } as const;
      const [header, payload, signature] = token.split(".") as [string, string, string];
      const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload)));
      const longer = base64url.encode(JSON.stringify({ ...claims, exp: claims.exp + 86_000 }));
      const sig = base64url.decode(signature);
      sig[31]! ^= 1;
      const verifier = new TokenVerifier({ keys, networkId: TEST_NETWORK_ID });
      for (
        const tampered of [
          `${header}.${longer}.${signature}`,
          `${header}.${payload}.${base64url.encode(sig)}`,
        ]
      ) {
        const verdict = await verifier.verify(tampered, expect);
        assert.equal(verdict.ok ? "ok" : verdict.code, "bad-signature");
      }
      const later = new TokenVerifier({
        keys,
        networkId: TEST_NETWORK_ID,
        now: () => Date.now() + 91_000,
      });
      const verdict = await later.verify(token, expect);
      assert.equal(verdict.ok ? "ok" : verdict.code, "expired");
      const otherNet = new TokenVerifier({ keys, networkId: "elsewhere" });
      const net = await otherNet.verify(token, expect);
      assert.equal(net.ok ? "ok" : net.code, "wrong-network");
    } finally {
      await keys.stop();
    }
  });
});

Deno.test("a verifier picks up a rotated key by its periodic refresh and by an unknown kid", async () => {
  const first = (await generateSigningKey()).key;
  const second = (await generateSigningKey()).key;
  const third = (await generateSigningKey()).key;
  await using service = await startTestAuthService({ signingKey: first });
  const alice = await FileIdentity.generate();
  const issue = async () => {
    const client = new AuthServiceClient({ url: service.server.url });
    try {
      return (await client.issueToken(
        await signIssueTokenRequest(alice, {
          apiKey: service.apiKeys.proxy,
          role: "proxy",
          timestampMs: Date.now(),
        }),
      )).token;
    } finally {
      client.close();
    }
  };
  const expect = { peerId: alice.peerId, role: "proxy" } as const;
  const oldToken = await issue();

  // Periodic refresh: every 100 ms here (10 min by default).
  const periodic = new RemoteKeySet({
    url: service.server.url,
    refreshIntervalMs: 100,
    clock: new SystemClock(),
  });
  // Unknown-kid refetch: a long interval, and a clock the test moves past the 30 s rate limit.
  let aheadMs = 0;
  const onDemand = new RemoteKeySet({
    url: service.server.url,
    clock: {
      now: () => Date.now() + aheadMs,
      sleep: (ms, signal) =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(resolve, ms);
          signal?.addEventListener("abort", () => {
            clearTimeout(timer);
            reject(signal.reason);
          }, { once: true });
        }),
      setTimer: (ms, callback) => {
        const timer = setTimeout(callback, ms);
        return { cancel: () => clearTimeout(timer) };
      },
    },
  });
  await periodic.start();
  await onDemand.start();
  try {
    service.service.update({
      ...service.service.settings,
      signingKey: second,
      previousKeys: [first],
    });
    const newToken = await issue();
    const deadline = Date.now() + 3000;
    while (!periodic.keyIds.includes(second.kid) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(periodic.keyIds, [second.kid, first.kid]);
    const verifier = new TokenVerifier({ keys: periodic, networkId: TEST_NETWORK_ID });
    assert.ok((await verifier.verify(newToken, expect)).ok);
    assert.ok((await verifier.verify(oldToken, expect)).ok, "the retired key still verifies");

    assert.deepEqual(onDemand.keyIds, [first.kid]);
    const lazy = new TokenVerifier({ keys: onDemand, networkId: TEST_NETWORK_ID });
    const tooSoon = await lazy.verify(newToken, expect);
    assert.equal(tooSoon.ok ? "ok" : tooSoon.code, "unknown-key", "no refetch within 30 s");
    aheadMs = 31_000;
    assert.ok((await lazy.verify(newToken, expect)).ok, "an unknown kid triggers a refetch");
    assert.deepEqual(onDemand.keyIds, [second.kid, first.kid]);

    // Once the old key is retired for good, its tokens stop verifying after the next refresh.
    service.service.update({ ...service.service.settings, signingKey: third, previousKeys: [] });
    while (periodic.keyIds.includes(first.kid) && Date.now() < deadline + 3000) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const dropped = await verifier.verify(oldToken, expect);
    assert.equal(dropped.ok ? "ok" : dropped.code, "unknown-key");
  } finally {
    await periodic.stop();
    await onDemand.stop();
  }
});

Deno.test("a verifier started while the service is down retries and gets its keys", async () => {
  const port = freePort();
  const keys = new RemoteKeySet({
    url: `http://127.0.0.1:${port}`,
    timeoutMs: 1000,
    clock: new SystemClock(),
  });
  await keys.start();
  let service: TestAuthService | undefined;
  try {
    assert.equal(keys.size, 0);
    const verifier = new TokenVerifier({ keys, networkId: TEST_NETWORK_ID });
    const before = await verifier.verify("a.b.c", { peerId: "x", role: "proxy" });
    assert.equal(before.ok, false);
    const early = await verifier.verify(
      "eyJhbGciOiJFZERTQSIsImtpZCI6ImsifQ.e30.AA",
      { peerId: "x", role: "proxy" },
    );
    assert.equal(early.ok ? "ok" : early.code, "no-keys");
    assert.match(early.ok ? "" : early.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    service = await startTestAuthService({ port });
    await keys.ready();
    assert.deepEqual(keys.keyIds, [service.signingKey.kid]);
  } finally {
    await keys.stop();
    await service?.stop();
  }
});

Deno.test("with TLS both listeners serve every transport; auth-connect trusts a ca_cert", async () => {
  const testdata = new URL("../auth-service/testdata/", import.meta.url).pathname;
  const cert = await Deno.readTextFile(join(testdata, "localhost.crt"));
  const key = await Deno.readTextFile(join(testdata, "localhost.key"));
  await using plain = await startTestAuthService();
  const server = await startAuthServer({
    service: plain.service,
    hostname: "127.0.0.1",
    port: 0,
    grpcPort: 0,
    tls: { cert, key },
  });
  try {
    assert.match(server.url, /^https:/);
    const cases = [["connect", server.url], ["grpc-web", server.url], ["grpc", server.grpcUrl!]];
    for (const [transport, url] of cases as [AuthTransportKind, string][]) {
      const client = new AuthServiceClient({ url, transport, caCert: cert });
      try {
        assert.equal((await client.publicKeys())[0]?.keyId, plain.signingKey.kid, transport);
      } finally {
        client.close();
      }
    }
    const untrusted = new AuthServiceClient({ url: server.url });
    try {
      assert.equal(
        describeRpcFailure(await untrusted.publicKeys().catch((e) => e)).kind,
        "unreachable",
      );
    } finally {
      untrusted.close();
    }

    const identity = await FileIdentity.generate();
    const instance = await authConnect.create(
      authConnect.options.parse({
        url: server.url,
        api_key: plain.apiKeys.proxy,
        ca_cert: join(testdata, "localhost.crt"),
      }),
      {
        stateDir: ".",
        role: "proxy",
        get: ((capability: string) =>
          capability === "identity" ? identity : new SystemClock()) as PluginContext["get"],
        find: () =>
          undefined,
      },
    );
    await instance.start?.();
    try {
      const token = await instance.provides.authenticator.token();
      assert.equal(readUnverifiedClaims(token)?.sub, identity.peerId);
    } finally {
      await instance.stop?.();
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("appendApiKey keeps the file's comments and other keys", async () => {
  const hash = await hashApiKey("k");
  const entry = { name: "new", hash, role: "exit" as const };
  const text = "# my auth service\nnetwork_id: acme # the network\napi_keys:\n" +
    `  - name: old # first key\n    hash: ${await hashApiKey("o")}\n    role: proxy\n`;
  const updated = appendApiKey(text, entry, "Auth.yaml");
  assert.ok(updated.startsWith("# my auth service\nnetwork_id: acme # the network\n"));
  assert.ok(updated.includes("# first key"));
  const config = loadAuthConfig(updated, { source: "Auth.yaml" });
  assert.deepEqual(config.apiKeys.map((k) => k.name), ["old", "new"]);
  assert.equal(config.networkId, "acme");
  for (const start of ["", "api_keys: []\n", "network_id: x\n"]) {
    const config = loadAuthConfig(appendApiKey(start, entry, "Auth.yaml"), { source: "Auth.yaml" });
    assert.deepEqual(config.apiKeys, [entry]);
  }
  const json = appendApiKey('{"network_id":"j"}', entry, "Auth.json");
  assert.deepEqual(JSON.parse(json), { network_id: "j", api_keys: [entry] });
});

// ---------------------------------------------------------------------------
// The commands as subprocesses

/** A stand-in for cli/main.ts until the lead registers `auth` there. */
const ENTRY = `
import { Command } from "commander";
import { registerAuth } from ${
  JSON.stringify(new URL("../cli/commands/auth.ts", import.meta.url).href)
};
import { configureLogging } from ${
  JSON.stringify(new URL("../cli/logging.ts", import.meta.url).href)
};
import { exitCodeFor } from ${
  JSON.stringify(new URL("../cli/exit_codes.ts", import.meta.url).href)
};
await configureLogging("info");
const program = new Command("p2proxy").exitOverride();
registerAuth(program, { cwd: Deno.cwd(), staticModules: {}, entry: "" });
try {
  await program.parseAsync(Deno.args, { from: "user" });
  Deno.exit(0);
} catch (error) {
  console.error("p2proxy: " + (error instanceof Error ? error.message : String(error)));
  Deno.exit(exitCodeFor(error));
}
`;

const CONFIG = new URL("../deno.json", import.meta.url).pathname;

function authCommand(entry: string, args: readonly string[], cwd: string) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-prompt", `--config=${CONFIG}`, entry, ...args],
    cwd,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

Deno.test("auth add-key prints a key once and stores its hash; auth serve answers IssueToken", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p2proxy-auth-cli-" });
  const entry = join(dir, "entry.ts");
  await Deno.writeTextFile(entry, ENTRY);
  const configPath = join(dir, "Auth.yaml");
  await Deno.writeTextFile(
    configPath,
    "# test service\nlisten: 127.0.0.1:0\ngrpc_port: 0\nnetwork_id: cli-net\ntoken_ttl_secs: 120\n",
  );
  let server: Deno.ChildProcess | undefined;
  try {
    const added = await authCommand(entry, [
      "auth",
      "add-key",
      "-c",
      configPath,
      "--role",
      "proxy",
      "--name",
      "laptop",
    ], dir).output();
    const stdout = new TextDecoder().decode(added.stdout);
    const stderr = new TextDecoder().decode(added.stderr);
    assert.equal(added.code, 0, stderr);
    const key = stdout.trim();
    assert.match(key, /^p2pk_[A-Za-z0-9_-]{43}$/);
    assert.match(stderr, /shown once/);
    const text = await Deno.readTextFile(configPath);
    assert.ok(!text.includes(key), "the file must not hold the key");
    assert.ok(text.startsWith("# test service\n"));
    const written = parseYaml(text);
    assert.deepEqual(written.api_keys, [{
      name: "laptop",
      hash: await hashApiKey(key),
      role: "proxy",
    }]);

    const duplicate = await authCommand(entry, [
      "auth",
      "add-key",
      "-c",
      configPath,
      "--role",
      "exit",
      "--name",
      "laptop",
    ], dir).output();
    assert.equal(duplicate.code, 2);
    assert.match(
      new TextDecoder().decode(duplicate.stderr),
      /already has an API key named "laptop"/,
    );
    assert.equal(
      await Deno.readTextFile(configPath),
      text,
      "a refused add-key leaves the file alone",
    );

    server = authCommand(entry, ["auth", "serve", "-c", configPath, "--state-dir", dir], dir)
      .spawn();
    const { url, grpcUrl, log } = await waitForListening(server.stderr);
    assert.match(log, /public key \(for static verifier configs\)/);
    const mode = (await Deno.stat(join(dir, "auth_signing_key.pem"))).mode! & 0o777;
    if (Deno.build.os !== "windows") assert.equal(mode, 0o600);

    const alice = await FileIdentity.generate();
    for (const [transport, base] of [["connect", url], ["grpc", grpcUrl]] as const) {
      const client = new AuthServiceClient({ url: base, transport });
      try {
        const { token } = await client.issueToken(
          await signIssueTokenRequest(alice, {
            apiKey: key,
            role: "proxy",
            timestampMs: Date.now(),
          }),
        );
        const claims = readUnverifiedClaims(token);
        assert.equal(claims?.sub, alice.peerId);
        assert.equal(claims?.net, "cli-net");
        assert.equal(claims!.exp - claims!.iat, 120);
        assert.equal(
          await codeOf(client.issueToken(
            await signIssueTokenRequest(alice, {
              apiKey: key,
              role: "exit",
              timestampMs: Date.now(),
            }),
          )),
          "permission_denied",
        );
      } finally {
        client.close();
      }
    }

    // A key added while the service runs is accepted after SIGHUP, without a restart.
    const more = await authCommand(entry, [
      "auth",
      "add-key",
      "-c",
      configPath,
      "--role",
      "exit",
    ], dir).output();
    assert.equal(more.code, 0, new TextDecoder().decode(more.stderr));
    const exitKey = new TextDecoder().decode(more.stdout).trim();
    const client = new AuthServiceClient({ url });
    try {
      const ask = async () =>
        client.issueToken(
          await signIssueTokenRequest(alice, {
            apiKey: exitKey,
            role: "exit",
            timestampMs: Date.now(),
          }),
        );
      assert.equal(await codeOf(ask()), "unauthenticated", "not before the reload");
      server.kill("SIGHUP");
      const deadline = Date.now() + 5000;
      let token: string | undefined;
      while (token === undefined && Date.now() < deadline) {
        token = await ask().then((issued) => issued.token, () => undefined);
        if (token === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(readUnverifiedClaims(token ?? "")?.role, "exit", "accepted after SIGHUP");
    } finally {
      client.close();
    }
  } finally {
    if (server !== undefined) {
      server.kill("SIGTERM");
      await server.status;
      // Nothing reads the service's stdout (it logs to stderr): close the pipe.
      await server.stdout.cancel();
    }
    await Deno.remove(dir, { recursive: true });
  }
});

/** Reads the server's log until it says where it listens (10 s at most); drains the rest. */
async function waitForListening(stream: ReadableStream<Uint8Array>) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  const timer = setTimeout(
    () => reader.cancel(new Error("auth serve did not start in time")),
    10_000,
  );
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      log += value;
      const url = /Connect and gRPC-web on "?(http:\/\/[^"\s]+)/.exec(log)?.[1];
      const grpcUrl = /gRPC on "?(http:\/\/[^"\s]+)/.exec(log)?.[1];
      if (url && grpcUrl && log.includes("public key")) {
        // Keep draining so the child never blocks on a full pipe.
        (async () => {
          while (!(await reader.read()).done) { /* discard */ }
        })().catch(() => {});
        return { url, grpcUrl, log };
      }
    }
  } finally {
    clearTimeout(timer);
  }
  return assert.fail(`auth serve did not report its address:\n${log}`);
}
