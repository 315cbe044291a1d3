import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { decodeProtectedHeader } from "jose";
import { FileIdentity } from "../plugins/identity-file/file_identity.ts";
import { ApiKeyTable, generateApiKey, hashApiKey } from "./api_keys.ts";
import { AuthTokenService } from "./auth_service.ts";
import { signIssueTokenRequest } from "../auth/issue_request.ts";
import { generateSigningKey } from "./signing_key.ts";
import { readUnverifiedClaims } from "../auth/token.ts";

const NOW_MS = 1_800_000_000_000;

async function fixture() {
  const keys = { proxy: generateApiKey(), exit: generateApiKey(), both: generateApiKey() };
  const apiKeys = new ApiKeyTable([
    { name: "p", hash: await hashApiKey(keys.proxy), role: "proxy" },
    { name: "e", hash: await hashApiKey(keys.exit), role: "exit" },
    { name: "b", hash: await hashApiKey(keys.both), role: "both" },
  ]);
  const signingKey = (await generateSigningKey()).key;
  const previous = (await generateSigningKey()).key;
  const service = new AuthTokenService({
    networkId: "net",
    issuer: "iss",
    tokenTtlMs: 600_000,
    signingKey,
    previousKeys: [previous, signingKey],
    apiKeys,
  }, { now: () => NOW_MS });
  const identity = await FileIdentity.generate();
  return { keys, service, identity, signingKey, previous };
}

async function refusal(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ConnectError, `expected a ConnectError, got ${error}`);
    return error;
  }
  return assert.fail("expected a refusal");
}

Deno.test("IssueToken issues a token for the signer's peer id, role and network", async () => {
  const { keys, service, identity, signingKey } = await fixture();
  for (
    const [key, role] of [[keys.proxy, "proxy"], [keys.both, "exit"], [keys.exit, "exit"]] as const
  ) {
    const request = await signIssueTokenRequest(identity, {
      apiKey: key,
      role,
      timestampMs: NOW_MS,
    });
    const issued = await service.issueToken(request);
    const claims = readUnverifiedClaims(issued.token);
    assert.ok(claims);
    assert.equal(claims.sub, identity.peerId);
    assert.equal(claims.role, role);
    assert.equal(claims.net, "net");
    assert.equal(claims.iss, "iss");
    assert.equal(claims.iat, NOW_MS / 1000);
    assert.equal(claims.exp, NOW_MS / 1000 + 600);
    assert.equal(issued.expiresAtMs, BigInt(claims.exp) * 1000n);
    const header = decodeProtectedHeader(issued.token);
    assert.deepEqual(header, { alg: "EdDSA", typ: "JWT", kid: signingKey.kid });
  }
});

Deno.test("IssueToken refuses, with the right code and a message saying what to fix", async () => {
  const { keys, service, identity } = await fixture();
  const other = await FileIdentity.generate();
  const good = (
    overrides: { apiKey?: string; role?: "proxy" | "exit"; timestampMs?: number } = {},
  ) =>
    signIssueTokenRequest(identity, {
      apiKey: keys.proxy,
      role: "proxy",
      timestampMs: NOW_MS,
      ...overrides,
    });

  let error = await refusal(service.issueToken(await good({ apiKey: generateApiKey() })));
  assert.equal(error.code, Code.Unauthenticated);
  assert.match(error.rawMessage, /API key is not accepted/);

  error = await refusal(service.issueToken(await good({ role: "exit" })));
  assert.equal(error.code, Code.PermissionDenied);
  assert.match(error.rawMessage, /"p" may ask for proxy tokens, not exit tokens/);

  error = await refusal(service.issueToken({ ...await good(), role: "admin" }));
  assert.equal(error.code, Code.InvalidArgument);

  for (const offset of [-300_001, 300_001]) {
    error = await refusal(service.issueToken(await good({ timestampMs: NOW_MS + offset })));
    assert.equal(error.code, Code.FailedPrecondition);
    assert.match(error.rawMessage, /synchronise/);
  }
  for (const offset of [-300_000, 300_000]) {
    await service.issueToken(await good({ timestampMs: NOW_MS + offset }));
  }

  const signed = await good();
  const flipped = Uint8Array.from(signed.signature);
  flipped[10]! ^= 1;
  error = await refusal(service.issueToken({ ...signed, signature: flipped }));
  assert.equal(error.code, Code.Unauthenticated);
  assert.match(error.rawMessage, /signature does not verify/);
  error = await refusal(service.issueToken({ ...signed, signature: signed.signature.slice(1) }));
  assert.equal(error.code, Code.Unauthenticated);

  // Another peer's public key, signed by a third key: the signature must be by the key sent.
  const third = await FileIdentity.generate();
  const byThird = await signIssueTokenRequest(third, {
    apiKey: keys.proxy,
    role: "proxy",
    timestampMs: NOW_MS,
  });
  const forged = await signIssueTokenRequest(
    {
      ...third,
      peerId: third.peerId,
      publicKey: other.publicKey,
      privateKey: third.privateKey,
      sign: (d) => third.sign(d),
    },
    { apiKey: keys.proxy, role: "proxy", timestampMs: NOW_MS },
  );
  assert.deepEqual(forged.publicKey, other.publicKey);
  error = await refusal(service.issueToken(forged));
  assert.equal(error.code, Code.Unauthenticated);
  await service.issueToken(byThird);

  error = await refusal(service.issueToken({ ...signed, publicKey: Uint8Array.of(1, 2, 3) }));
  assert.equal(error.code, Code.InvalidArgument);
  assert.match(error.rawMessage, /libp2p protobuf/);
});

Deno.test("PublicKeys lists the signing key first, then retired keys, once each", async () => {
  const { service, signingKey, previous } = await fixture();
  const keys = service.publicKeys();
  assert.deepEqual(keys.map((k) => k.keyId), [signingKey.kid, previous.kid]);
  assert.deepEqual(keys.map((k) => k.algorithm), ["Ed25519", "Ed25519"]);
  assert.deepEqual(keys[0]?.publicKey, signingKey.raw);
});

Deno.test("update() swaps keys and settings for the next request", async () => {
  const { keys, service, identity } = await fixture();
  const replacement = (await generateSigningKey()).key;
  service.update({
    ...service.settings,
    signingKey: replacement,
    previousKeys: [],
    apiKeys: new ApiKeyTable([]),
  });
  assert.deepEqual(service.publicKeys().map((k) => k.keyId), [replacement.kid]);
  const request = await signIssueTokenRequest(identity, {
    apiKey: keys.proxy,
    role: "proxy",
    timestampMs: NOW_MS,
  });
  assert.equal((await refusal(service.issueToken(request))).code, Code.Unauthenticated);
});
