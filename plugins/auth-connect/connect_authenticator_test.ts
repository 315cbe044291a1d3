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
} from "../../auth-service/_test_support.ts";
import type { AuthTransportKind } from "../../auth/client.ts";
import { StaticKeySet, TokenVerifier } from "../../auth/token_verifier.ts";
import { ConnectAuthenticator, type ConnectAuthenticatorOptions } from "./connect_authenticator.ts";
import { renderPermissionFlags } from "../../core/plugin/permissions.ts";
import { runUnder } from "../../tests/_permission_probe.ts";
import { API_KEY_ENV_VAR, netGrantOf, plugin } from "./mod.ts";

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

// ---------------------------------------------------------------------------
// The plugin (mod.ts): options, permissions, where the key comes from.

const URL_OPTION = { url: "http://127.0.0.1:8443" };

async function pluginContext(role: "proxy" | "exit" | "hub") {
  const identity = await FileIdentity.generate();
  const clock = new SystemClock();
  return {
    stateDir: ".",
    role,
    // deno-lint-ignore no-explicit-any
    get: (capability: string): any => {
      if (capability === "identity") return identity;
      if (capability === "clock") return clock;
      return assert.fail(`auth-connect asked for ${capability}`);
    },
    find: (capability: string) => assert.fail(`auth-connect looked for ${capability}`),
  };
}

/** Runs `fn` with P2PROXY_API_KEY set to `value` (or unset), restoring it afterwards. */
async function withEnvKey(value: string | undefined, fn: () => Promise<void>) {
  const before = Deno.env.get(API_KEY_ENV_VAR);
  if (value === undefined) Deno.env.delete(API_KEY_ENV_VAR);
  else Deno.env.set(API_KEY_ENV_VAR, value);
  try {
    await fn();
  } finally {
    if (before === undefined) Deno.env.delete(API_KEY_ENV_VAR);
    else Deno.env.set(API_KEY_ENV_VAR, before);
  }
}

Deno.test("auth-connect options: a missing url is named, every option round-trips, bad values refused", () => {
  const full = {
    url: "https://auth.example.com",
    transport: "grpc",
    api_key: "p2pk_x",
    role: "exit",
    refresh_at: 0.5,
    timeout_secs: 3,
    ca_cert: "/etc/ca.pem",
  };
  assert.deepEqual(plugin.options.parse(full), full);
  const missing = plugin.options.safeParse({});
  assert.equal(missing.success, false);
  assert.match(JSON.stringify(missing.error?.issues), /base URL/);
  for (
    const bad of [
      { url: "ftp://x" },
      { url: "not a url" },
      { ...URL_OPTION, transport: "websocket" },
      { ...URL_OPTION, role: "hub" },
      { ...URL_OPTION, refresh_at: 1 },
      { ...URL_OPTION, refresh_at: 0 },
      { ...URL_OPTION, timeout_secs: 0 },
      { ...URL_OPTION, api_key: "" },
    ]
  ) {
    assert.equal(plugin.options.safeParse(bad).success, false, JSON.stringify(bad));
  }
});

Deno.test("auth-connect permissions: the URL's host and port, the env key only when needed", () => {
  const ctx = { stateDir: ".", role: "proxy" as const };
  assert.deepEqual(plugin.permissions?.(plugin.options.parse(URL_OPTION), ctx), {
    net: ["127.0.0.1:8443"],
    env: [API_KEY_ENV_VAR],
  });
  assert.deepEqual(
    plugin.permissions?.(
      plugin.options.parse({ url: "https://auth.example.com/", api_key: "k", ca_cert: "ca.pem" }),
      ctx,
    ),
    { net: ["auth.example.com:443"], read: ["ca.pem"] },
  );
  assert.equal(netGrantOf("http://[::1]/"), "[::1]:80");
});

Deno.test("auth-connect takes the key from its options, else from P2PROXY_API_KEY, else refuses", async () => {
  await withEnvKey("p2pk_from_env", async () => {
    const created = await plugin.create(
      plugin.options.parse({ ...URL_OPTION, api_key: "p2pk_from_options" }),
      await pluginContext("proxy"),
    );
    assert.ok(created.provides.authenticator instanceof ConnectAuthenticator);
    await created.stop?.();
    const fromEnv = await plugin.create(
      plugin.options.parse(URL_OPTION),
      await pluginContext("exit"),
    );
    await fromEnv.stop?.();
  });
  await withEnvKey(undefined, async () => {
    await assert.rejects(
      async () => plugin.create(plugin.options.parse(URL_OPTION), await pluginContext("proxy")),
      (error) => {
        assert.ok(error instanceof AuthError);
        assert.equal(error.code, "rejected");
        assert.match(error.message, /`api_key`.*P2PROXY_API_KEY/);
        return true;
      },
    );
  });
  await assert.rejects(
    async () =>
      plugin.create(
        plugin.options.parse({ ...URL_OPTION, api_key: "k" }),
        await pluginContext("hub"),
      ),
    (error) => error instanceof AuthError && /`role`/.test(error.message),
  );
});

Deno.test("auth-connect gets tokens under exactly its declared permissions", async () => {
  await using service = await startTestAuthService({ grpc: true });
  for (
    const [transport, url] of [
      ["connect", service.server.url],
      ["grpc", service.server.grpcUrl!],
    ] as const
  ) {
    const options = plugin.options.parse({ url, transport });
    const flags = renderPermissionFlags(
      plugin.permissions!(options, { stateDir: ".", role: "proxy" }),
    );
    assert.deepEqual(flags, [`--allow-net=${netGrantOf(url)}`, `--allow-env=${API_KEY_ENV_VAR}`]);
    const probe = `
      import { plugin } from ${JSON.stringify(new URL("./mod.ts", import.meta.url).href)};
      import { FileIdentity } from ${
      JSON.stringify(new URL("../identity-file/file_identity.ts", import.meta.url).href)
    };
      import { SystemClock } from ${
      JSON.stringify(new URL("../clock-system/system_clock.ts", import.meta.url).href)
    };
      const identity = await FileIdentity.generate();
      const clock = new SystemClock();
      const ports = { identity, clock };
      const instance = await plugin.create(plugin.options.parse(${
      JSON.stringify({ url, transport })
    }),
        { stateDir: ".", role: "proxy", get: (c) => ports[c] });
      await instance.start();
      const token = await instance.provides.authenticator.token();
      let other = "allowed";
      try { await Deno.connect({ hostname: "127.0.0.1", port: 1 }); } catch (error) { other = error.name; }
      await instance.stop();
      console.log(JSON.stringify({ parts: token.split(".").length, other }));
    `;
    const result = await runUnder(flags, probe, { [API_KEY_ENV_VAR]: service.apiKeys.proxy });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { parts: 3, other: "NotCapable" }, transport);
  }
});
