import assert from "node:assert/strict";
import fc from "fast-check";
import { base64url } from "jose";
import { ConfigError } from "../core/config/problems.ts";
import { generateApiKey, hashApiKey } from "./api_keys.ts";
import {
  AUTH_API_KEYS_ENV,
  AUTH_PREVIOUS_KEYS_ENV,
  AUTH_SIGNING_KEY_ENV,
  authSettingsFromEnv,
  pemOfSigningKeyEnvValue,
  signingKeyEnvValue,
} from "./env_settings.ts";
import { generateSigningKey } from "./signing_key.ts";

async function validEnv(): Promise<Record<string, string>> {
  const { pem } = await generateSigningKey();
  return {
    [AUTH_SIGNING_KEY_ENV]: signingKeyEnvValue(pem),
    [AUTH_API_KEYS_ENV]: JSON.stringify([
      { name: "laptop", hash: await hashApiKey(generateApiKey()), role: "proxy" },
      { name: "exit-1", hash: await hashApiKey(generateApiKey()), role: "exit" },
    ]),
  };
}

/** The variables a ConfigError's problems name. */
async function problemPaths(env: Record<string, string | undefined>): Promise<string[]> {
  try {
    await authSettingsFromEnv(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    return error.problems.map((problem) => problem.path);
  }
  return assert.fail("the environment was accepted");
}

Deno.test("the signing key's one-line form, its PEM and its base64url form load as one key", async () => {
  const { key, pem } = await generateSigningKey();
  const line = signingKeyEnvValue(pem);
  assert.doesNotMatch(line, /\s|-----/);
  const forms = [line, pem, line.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "")];
  for (const form of forms) {
    const { settings } = await authSettingsFromEnv({
      ...await validEnv(),
      [AUTH_SIGNING_KEY_ENV]: form,
    });
    assert.equal(settings.signingKey.kid, key.kid, form.slice(0, 20));
  }
  // A PEM pasted with its line breaks written as \n (one line in a dashboard) works too.
  assert.equal(pemOfSigningKeyEnvValue(pem.replaceAll("\n", "\\n"))?.trim(), pem.trim());
  assert.equal(pemOfSigningKeyEnvValue("not base64 at all!"), undefined);
});

Deno.test("the environment gives the service its keys, network, issuer and token lifetime", async () => {
  const env = await validEnv();
  const { config, settings } = await authSettingsFromEnv({
    ...env,
    P2PROXY_NETWORK_ID: "acme-exits",
    P2PROXY_ISSUER: "acme-auth",
    P2PROXY_TOKEN_TTL_SECS: "600",
    P2PROXY_LOG_LEVEL: "debug",
  });
  assert.equal(settings.networkId, "acme-exits");
  assert.equal(settings.issuer, "acme-auth");
  assert.equal(settings.tokenTtlMs, 600_000);
  assert.equal(config.logLevel, "debug");
  assert.equal(settings.apiKeys.size, 2);
  assert.deepEqual(config.apiKeys.map((entry) => entry.name), ["laptop", "exit-1"]);
  assert.deepEqual(settings.previousKeys, []);

  const defaults = await authSettingsFromEnv(env);
  assert.equal(defaults.settings.networkId, "p2proxy");
  assert.equal(defaults.settings.tokenTtlMs, 3_600_000);
});

Deno.test("an API key presented to the service matches the hash the environment lists", async () => {
  const key = generateApiKey();
  const { settings } = await authSettingsFromEnv({
    ...await validEnv(),
    [AUTH_API_KEYS_ENV]: JSON.stringify([
      { name: "o'brien", hash: await hashApiKey(key), role: "both" },
    ]),
  });
  assert.equal((await settings.apiKeys.match(key))?.name, "o'brien");
  assert.equal(await settings.apiKeys.match(generateApiKey()), undefined);
});

Deno.test("retired keys' public halves are published beside the signing key", async () => {
  const retired = [(await generateSigningKey()).key, (await generateSigningKey()).key];
  const { settings } = await authSettingsFromEnv({
    ...await validEnv(),
    [AUTH_PREVIOUS_KEYS_ENV]: retired.map((key) => base64url.encode(key.raw)).join(", "),
  });
  assert.deepEqual(settings.previousKeys.map((key) => key.kid), retired.map((key) => key.kid));
});

Deno.test("every missing or wrong variable is reported at once, by name", async () => {
  assert.deepEqual(await problemPaths({}), [AUTH_API_KEYS_ENV, AUTH_SIGNING_KEY_ENV]);
  const env = await validEnv();
  assert.deepEqual(
    await problemPaths({
      ...env,
      [AUTH_SIGNING_KEY_ENV]: base64url.encode(new Uint8Array(48)),
      [AUTH_API_KEYS_ENV]: "[{name: laptop}]",
      [AUTH_PREVIOUS_KEYS_ENV]: "abc,",
      P2PROXY_TOKEN_TTL_SECS: "soon",
    }),
    [
      AUTH_API_KEYS_ENV,
      "P2PROXY_TOKEN_TTL_SECS",
      AUTH_SIGNING_KEY_ENV,
      `${AUTH_PREVIOUS_KEYS_ENV}[0]`,
    ],
  );
});

Deno.test("API key entries are checked by the config's own rules, and a key is never echoed", async () => {
  const key = generateApiKey();
  const hash = await hashApiKey(generateApiKey());
  const env = await validEnv();
  let message = "";
  try {
    await authSettingsFromEnv({
      ...env,
      [AUTH_API_KEYS_ENV]: JSON.stringify([
        { name: "a", hash: key, role: "proxy" },
        { name: "b", hash, role: "admin" },
        { name: "b", hash, role: "exit" },
      ]),
    });
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    message = error.message;
    assert.deepEqual(error.problems.map((problem) => problem.path), [
      `${AUTH_API_KEYS_ENV}[0].hash`,
      `${AUTH_API_KEYS_ENV}[1].role`,
      `${AUTH_API_KEYS_ENV}[2].name`,
      `${AUTH_API_KEYS_ENV}[2].hash`,
    ]);
  }
  assert.match(message, /This is an API key itself, not its hash/);
  assert.ok(!message.includes(key), "the pasted key is not repeated");
  assert.deepEqual(
    await problemPaths({ ...env, [AUTH_API_KEYS_ENV]: JSON.stringify(key) }),
    [AUTH_API_KEYS_ENV],
  );
});

Deno.test("arbitrary variable values give settings or a ConfigError, never another error", async () => {
  const env = await validEnv();
  const value = fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.json());
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        [AUTH_SIGNING_KEY_ENV]: fc.option(fc.oneof(value, fc.constant(env[AUTH_SIGNING_KEY_ENV]!))),
        [AUTH_API_KEYS_ENV]: fc.option(fc.oneof(value, fc.constant(env[AUTH_API_KEYS_ENV]!))),
        [AUTH_PREVIOUS_KEYS_ENV]: fc.option(value),
        P2PROXY_NETWORK_ID: fc.option(value),
        P2PROXY_TOKEN_TTL_SECS: fc.option(value),
      }, { requiredKeys: [] }),
      async (drawn) => {
        const plain = Object.fromEntries(
          Object.entries(drawn).map(([name, text]) => [name, text ?? undefined]),
        );
        try {
          await authSettingsFromEnv(plain);
        } catch (error) {
          assert.ok(error instanceof ConfigError, `${error}`);
        }
      },
    ),
    { numRuns: 60 },
  );
});
