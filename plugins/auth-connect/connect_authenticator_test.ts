import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { AuthError } from "../../core/ports/authenticator.ts";
import { authenticatorCompliance } from "../../core/testing/compliance/authenticator.ts";
import { FileIdentity } from "../identity-file/file_identity.ts";
import { SystemClock } from "../clock-system/system_clock.ts";
import {
  freePort,
  startTestAuthService,
  TEST_NETWORK_ID,
  type TestAuthService,
} from "../../runtime/auth/_test_support.ts";
import type { AuthTransportKind } from "../../runtime/auth/client.ts";
import { StaticKeySet, TokenVerifier } from "../../runtime/auth/token_verifier.ts";
import { ConnectAuthenticator, type ConnectAuthenticatorOptions } from "./connect_authenticator.ts";

async function authenticatorFor(
  service: TestAuthService | { url: string },
  overrides: Partial<ConnectAuthenticatorOptions> = {},
) {
  const identity = await FileIdentity.generate();
  const url = "url" in service ? service.url : service.server.url;
  const apiKey = "apiKeys" in service ? service.apiKeys.proxy : "p2pk_none";
  const authenticator = new ConnectAuthenticator({
    url,
    apiKey,
    apiKeySource: "the config (`api_key`)",
    role: "proxy",
    timeoutMs: 2000,
    identity,
    clock: new SystemClock(),
    ...overrides,
  });
  return { authenticator, identity };
}

function verifierOf(service: TestAuthService) {
  return new TokenVerifier({
    keys: new StaticKeySet([service.signingKey]),
    networkId: TEST_NETWORK_ID,
  });
}

/** Collects the auth-connect log records while `fn` runs. */
async function withLogs<T>(fn: (records: LogRecord[]) => Promise<T>): Promise<T> {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (record) => records.push(record) },
    loggers: [
      { category: ["p2proxy", "auth-connect"], lowestLevel: "debug", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
  });
  try {
    return await fn(records);
  } finally {
    await reset();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("ConnectAuthenticator passes the authenticator compliance suite", (t) =>
  authenticatorCompliance(t, async () => {
    const service = await startTestAuthService();
    const { authenticator } = await authenticatorFor(service);
    await authenticator.start();
    return {
      authenticator,
      cleanup: async () => {
        await authenticator.stop();
        await service.stop();
      },
    };
  }));

Deno.test("start() gets a token for this peer and role, over each transport", async () => {
  await using service = await startTestAuthService({ grpc: true });
  const verifier = verifierOf(service);
  for (const transport of ["connect", "grpc-web", "grpc"] as AuthTransportKind[]) {
    const url = transport === "grpc" ? service.server.grpcUrl! : service.server.url;
    const { authenticator, identity } = await authenticatorFor({ url }, {
      apiKey: service.apiKeys.exit,
      role: "exit",
      transport,
    });
    try {
      await authenticator.start();
      const token = await authenticator.token();
      const verdict = await verifier.verify(token, { peerId: identity.peerId, role: "exit" });
      assert.ok(verdict.ok, `${transport}: ${verdict.ok ? "" : verdict.message}`);
      assert.ok(authenticator.expiresAtMs! > Date.now() + 3_500_000);
    } finally {
      await authenticator.stop();
    }
  }
});

Deno.test("a 3 s token is refreshed several times and every token stays valid", async () => {
  await using service = await startTestAuthService({ ttlSecs: 3 });
  const verifier = verifierOf(service);
  const { authenticator, identity } = await authenticatorFor(service, { refreshAt: 0.1 });
  try {
    await authenticator.start();
    const seen = new Set<string>();
    const deadline = Date.now() + 1600;
    while (Date.now() < deadline) {
      const token = await authenticator.token();
      seen.add(token);
      const verdict = await verifier.verify(token, { peerId: identity.peerId, role: "proxy" });
      assert.ok(verdict.ok, verdict.ok ? "" : verdict.message);
      await sleep(50);
    }
    // A refresh every 0.3 s for 1.6 s: at least 4 tokens (the first and 3 refreshes).
    assert.ok(seen.size >= 4, `only ${seen.size} distinct tokens`);
  } finally {
    await authenticator.stop();
  }
});

Deno.test("with the service down at start, it retries (saying so) and succeeds once it is up", async () => {
  const port = freePort();
  await withLogs(async (records) => {
    const { authenticator } = await authenticatorFor({ url: `http://127.0.0.1:${port}` }, {
      apiKey: "p2pk_known",
    });
    let service: TestAuthService | undefined;
    try {
      const started = authenticator.start();
      await sleep(300);
      await assert.rejects(
        authenticator.token(),
        (e) => e instanceof AuthError && e.code === "unavailable",
      );
      service = await startTestAuthService({ port, apiKeys: { proxy: "p2pk_known" } });
      await started;
      assert.ok((await authenticator.token()).length > 0);
      assert.ok(
        records.some((r) =>
          r.level === "warning" && String(r.message.join("")).includes("retrying")
        ),
        "the retry is logged",
      );
    } finally {
      await authenticator.stop();
      await service?.stop();
    }
  });
});

Deno.test("a bad key makes start() reject with AuthError rejected, naming the key's source", async () => {
  await using service = await startTestAuthService();
  for (const source of ["the config (`api_key`)", "the environment variable P2PROXY_API_KEY"]) {
    const { authenticator } = await authenticatorFor(service, {
      apiKey: "p2pk_wrong",
      apiKeySource: source,
    });
    try {
      await assert.rejects(authenticator.start(), (error) => {
        assert.ok(error instanceof AuthError);
        assert.equal(error.code, "rejected");
        assert.ok(error.message.includes(source), error.message);
        assert.match(error.message, /unauthenticated/);
        return true;
      });
    } finally {
      await authenticator.stop();
    }
  }
  const { authenticator } = await authenticatorFor(service, { role: "exit" });
  try {
    await assert.rejects(
      authenticator.start(),
      (e) => e instanceof AuthError && e.code === "rejected" && /permission_denied/.test(e.message),
    );
  } finally {
    await authenticator.stop();
  }
});

Deno.test("the token is served until it expires when the service goes away, then token() says expired", async () => {
  const service = await startTestAuthService({ ttlSecs: 2 });
  const { authenticator } = await authenticatorFor(service, { refreshAt: 0.5 });
  try {
    await authenticator.start();
    const token = await authenticator.token();
    await service.stop();
    await sleep(1200);
    assert.equal(await authenticator.token(), token, "the current token is kept while valid");
    await sleep(1000);
    await assert.rejects(authenticator.token(), (error) => {
      assert.ok(error instanceof AuthError);
      assert.equal(error.code, "expired");
      assert.match(error.message, /no fresh one came/);
      return true;
    });
  } finally {
    await authenticator.stop();
  }
});

Deno.test("stop() during the first retries ends start() with unavailable and leaves nothing running", async () => {
  const { authenticator } = await authenticatorFor({ url: `http://127.0.0.1:${freePort()}` });
  const started = authenticator.start();
  await sleep(100);
  await authenticator.stop();
  await assert.rejects(started, (e) => e instanceof AuthError && e.code === "unavailable");
});

Deno.test("the API key never shows when the authenticator is inspected", async () => {
  const { authenticator } = await authenticatorFor({ url: "http://127.0.0.1:1" }, {
    apiKey: "p2pk_very_secret_key",
  });
  const shown = Deno.inspect(authenticator, { depth: 10, showHidden: true });
  assert.ok(!shown.includes("very_secret"), shown);
  await authenticator.stop();
});
