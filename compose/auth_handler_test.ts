import assert from "node:assert/strict";
import { isP2proxyError } from "../core/errors.ts";
import { ConfigError } from "../core/config/problems.ts";
import type { PluginDefinition } from "../core/plugin/contract.ts";
import { FAKE_CLOCK_START_MS } from "../core/testing/fakes.ts";
import { plugin as clockFake } from "../plugins/clock-fake/mod.ts";
import { plugin as identityMemory } from "../plugins/identity-memory/mod.ts";
import { FileIdentity } from "../plugins/identity-file/file_identity.ts";
import { AuthServiceClient } from "../auth/client.ts";
import { signIssueTokenRequest } from "../auth/issue_request.ts";
import { readUnverifiedClaims } from "../auth/token.ts";
import { generateApiKey, hashApiKey } from "../auth-service/api_keys.ts";
import {
  AUTH_API_KEYS_ENV,
  AUTH_SIGNING_KEY_ENV,
  signingKeyEnvValue,
} from "../auth-service/env_settings.ts";
import { HEALTH_PATH } from "../auth-service/fetch_handler.ts";
import { generateSigningKey } from "../auth-service/signing_key.ts";
import { createAuthHandler } from "./auth_handler.ts";

async function environment(apiKey: string) {
  const { key, pem } = await generateSigningKey();
  return {
    kid: key.kid,
    env: {
      [AUTH_SIGNING_KEY_ENV]: signingKeyEnvValue(pem),
      [AUTH_API_KEYS_ENV]: JSON.stringify([
        { name: "laptop", hash: await hashApiKey(apiKey), role: "proxy" },
      ]),
      P2PROXY_NETWORK_ID: "handler-net",
      P2PROXY_TOKEN_TTL_SECS: "120",
    },
  };
}

Deno.test("the composed handler issues tokens over Connect and gRPC-web on the plugins' clock", async () => {
  const apiKey = generateApiKey();
  const { kid, env } = await environment(apiKey);
  const handler = await createAuthHandler({
    env,
    plugins: [clockFake as unknown as PluginDefinition],
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler.fetch);
  const url = `http://127.0.0.1:${server.addr.port}`;
  try {
    const identity = await FileIdentity.generate();
    for (const transport of ["connect", "grpc-web"] as const) {
      const client = new AuthServiceClient({ url, transport, timeoutMs: 5_000 });
      try {
        // The fake clock stands still at its start: a request stamped then is fresh to it.
        const request = await signIssueTokenRequest(identity, {
          apiKey,
          role: "proxy",
          timestampMs: FAKE_CLOCK_START_MS,
        });
        const { token } = await client.issueToken(request);
        const claims = readUnverifiedClaims(token);
        assert.equal(claims?.sub, identity.peerId, transport);
        assert.equal(claims?.net, "handler-net");
        assert.equal(claims?.iat, Math.floor(FAKE_CLOCK_START_MS / 1000));
        assert.equal(claims?.exp, Math.floor(FAKE_CLOCK_START_MS / 1000) + 120);
        assert.deepEqual((await client.publicKeys()).map((key) => key.keyId), [kid]);
      } finally {
        client.close();
      }
    }
    const health = await fetch(`${url}${HEALTH_PATH}`);
    assert.equal(await health.text(), "ok\n");
    const missing = await fetch(`${url}/p2proxy.auth.v1.AuthService/Nope`, { method: "POST" });
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /No RPC at \/p2proxy\.auth\.v1\.AuthService\/Nope/);
  } finally {
    await server.shutdown();
    await handler.stop();
  }
});

Deno.test("the handler refuses to compose without its variables or without a clock", async () => {
  await assert.rejects(createAuthHandler({ env: {} }), (error) => {
    assert.ok(error instanceof ConfigError);
    assert.deepEqual(error.problems.map((problem) => problem.path), [
      AUTH_API_KEYS_ENV,
      AUTH_SIGNING_KEY_ENV,
    ]);
    return true;
  });
  const { env } = await environment(generateApiKey());
  await assert.rejects(
    createAuthHandler({ env, plugins: [identityMemory as unknown as PluginDefinition] }),
    (error) => isP2proxyError(error, "missing-capability") && /clock/.test(error.message),
  );
});
