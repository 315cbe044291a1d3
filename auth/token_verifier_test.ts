import assert from "node:assert/strict";
import fc from "fast-check";
import { base64url, SignJWT } from "jose";
import { generateSigningKey } from "../auth-service/signing_key.ts";
import type { SigningKey } from "./keys.ts";
import { signToken, type TokenClaims } from "./token.ts";
import {
  createTokenVerifier,
  StaticKeySet,
  type TokenVerdict,
  TokenVerifier,
} from "./token_verifier.ts";
import { startTestAuthService, TEST_NETWORK_ID } from "../auth-service/_test_support.ts";
import { SystemClock } from "../plugins/clock-system/system_clock.ts";

const NOW_S = 1_800_000_000;
const PEER_A = "12D3KooWA1111111111111111111111111111111111111111111";
const PEER_B = "12D3KooWB2222222222222222222222222222222222222222222";

function claims(overrides: Partial<TokenClaims> = {}): TokenClaims {
  return {
    sub: PEER_A,
    role: "proxy",
    net: "net",
    iss: "iss",
    iat: NOW_S,
    exp: NOW_S + 3600,
    jti: "j",
    ...overrides,
  };
}

async function setup(options: { nowS?: number; issuer?: string } = {}) {
  const key = (await generateSigningKey()).key;
  const verifier = new TokenVerifier({
    keys: new StaticKeySet([key]),
    networkId: "net",
    now: () => (options.nowS ?? NOW_S + 10) * 1000,
    ...(options.issuer ? { issuer: options.issuer } : {}),
  });
  return { key, verifier };
}

function assertRejected(verdict: TokenVerdict, code: string, pattern?: RegExp) {
  assert.equal(verdict.ok, false, `expected ${code}, got ok`);
  if (verdict.ok) return;
  assert.equal(verdict.code, code, verdict.message);
  if (pattern) assert.match(verdict.message, pattern);
}

Deno.test("a good token is accepted for its peer and role, with its claims", async () => {
  const { key, verifier } = await setup();
  const token = await signToken(key, claims());
  const verdict = await verifier.verify(token, { peerId: PEER_A, role: "proxy" });
  assert.ok(verdict.ok);
  assert.deepEqual(verdict.claims, claims());
  assert.ok((await verifier.verify(token, { peerId: PEER_A, role: ["exit", "proxy"] })).ok);
  assert.ok((await verifier.checkerFor("proxy")(token, PEER_A)).ok);
});

Deno.test("a token presented by another peer is rejected", async () => {
  const { key, verifier } = await setup();
  const token = await signToken(key, claims());
  assertRejected(
    await verifier.verify(token, { peerId: PEER_B, role: "proxy" }),
    "wrong-peer",
    /issued to peer 12D3KooWA.* presented by peer 12D3KooWB/,
  );
});

Deno.test("an exit token checked as proxy is rejected", async () => {
  const { key, verifier } = await setup();
  const token = await signToken(key, claims({ role: "exit" }));
  assertRejected(
    await verifier.verify(token, { peerId: PEER_A, role: "proxy" }),
    "wrong-role",
    /exit role, but proxy is required/,
  );
});

Deno.test("network and issuer must match", async () => {
  const { key, verifier } = await setup({ issuer: "iss" });
  assertRejected(
    await verifier.verify(await signToken(key, claims({ net: "other" })), {
      peerId: PEER_A,
      role: "proxy",
    }),
    "wrong-network",
    /"other".*"net"/,
  );
  assertRejected(
    await verifier.verify(await signToken(key, claims({ iss: "evil" })), {
      peerId: PEER_A,
      role: "proxy",
    }),
    "wrong-issuer",
  );
});

Deno.test("expiry and issue time are checked with a 30 s clock-skew allowance", async () => {
  const expect = { peerId: PEER_A, role: "proxy" } as const;
  const { key } = await setup();
  const token = await signToken(key, claims({ exp: NOW_S + 60 }));
  const at = (nowS: number) =>
    new TokenVerifier({ keys: new StaticKeySet([key]), networkId: "net", now: () => nowS * 1000 });
  assert.ok((await at(NOW_S + 60 + 29).verify(token, expect)).ok);
  assertRejected(await at(NOW_S + 60 + 30).verify(token, expect), "expired", /refresh/);
  assertRejected(await at(NOW_S + 3600).verify(token, expect), "expired");
  assert.ok((await at(NOW_S - 29).verify(token, expect)).ok);
  assertRejected(await at(NOW_S - 31).verify(token, expect), "not-yet-valid", /clock/);
  const eternal = await signToken(key, claims({ exp: NOW_S + 86_401 }));
  assertRejected(await at(NOW_S).verify(eternal, expect), "lifetime-too-long");
  const backwards = await signToken(key, claims({ exp: NOW_S }));
  assertRejected(await at(NOW_S).verify(backwards, expect), "lifetime-too-long");
});

Deno.test("a tampered payload or signature is rejected", async () => {
  const { key, verifier } = await setup();
  const token = await signToken(key, claims());
  const [header, payload, signature] = token.split(".") as [string, string, string];
  const forgedClaims = {
    ...JSON.parse(new TextDecoder().decode(base64url.decode(payload))),
    sub: PEER_B,
  };
  const forged = `${header}.${base64url.encode(JSON.stringify(forgedClaims))}.${signature}`;
  assertRejected(await verifier.verify(forged, { peerId: PEER_B, role: "proxy" }), "bad-signature");

  const signatureBytes = base64url.decode(signature);
  await fc.assert(
    fc.asyncProperty(fc.nat({ max: signatureBytes.length * 8 - 1 }), async (bit) => {
      const flipped = Uint8Array.from(signatureBytes);
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      const tampered = `${header}.${payload}.${base64url.encode(flipped)}`;
      assertRejected(
        await verifier.verify(tampered, { peerId: PEER_A, role: "proxy" }),
        "bad-signature",
      );
    }),
    { numRuns: 50 },
  );
  await fc.assert(
    fc.asyncProperty(
      fc.nat({ max: payload.length - 1 }),
      fc.constantFrom(..."AQgw-_"),
      async (i, c) => {
        fc.pre(payload[i] !== c);
        const tampered = `${header}.${payload.slice(0, i)}${c}${payload.slice(i + 1)}.${signature}`;
        const verdict = await verifier.verify(tampered, { peerId: PEER_A, role: "proxy" });
        assert.equal(verdict.ok, false);
      },
    ),
    { numRuns: 50 },
  );
});

Deno.test("keys: unknown kid, no keys, another key under the same kid, alg none", async () => {
  const { key, verifier } = await setup();
  const stranger = (await generateSigningKey()).key;
  const expect = { peerId: PEER_A, role: "proxy" } as const;
  assertRejected(
    await verifier.verify(await signToken(stranger, claims()), expect),
    "unknown-key",
    /does not know/,
  );
  const impostor: SigningKey = { ...stranger, kid: key.kid };
  assertRejected(
    await verifier.verify(await signToken(impostor, claims()), expect),
    "bad-signature",
  );
  const empty = new TokenVerifier({ keys: new StaticKeySet([]), networkId: "net" });
  assertRejected(await empty.verify(await signToken(key, claims()), expect), "no-keys");
  const none = `${base64url.encode(JSON.stringify({ alg: "none", kid: key.kid }))}.${
    base64url.encode(JSON.stringify(claims()))
  }.`;
  assertRejected(await verifier.verify(none, expect), "malformed", /EdDSA/);
});

Deno.test("malformed, missing, oversized tokens and missing claims are rejected", async () => {
  const { key, verifier } = await setup();
  const expect = { peerId: PEER_A, role: "proxy" } as const;
  assertRejected(await verifier.verify("", expect), "malformed", /No token/);
  assertRejected(await verifier.verify("not.a.jwt", expect), "malformed");
  assertRejected(await verifier.verify("x".repeat(5000), expect), "too-large");
  const partial = await new SignJWT({ role: "proxy" })
    .setProtectedHeader({ alg: "EdDSA", kid: key.kid })
    .setSubject(PEER_A)
    .sign(key.privateKey);
  assertRejected(await verifier.verify(partial, expect), "malformed", /net/);
  await fc.assert(
    fc.asyncProperty(fc.string({ maxLength: 200 }), async (junk) => {
      assert.equal((await verifier.verify(junk, expect)).ok, false);
    }),
    { numRuns: 100 },
  );
});

Deno.test("createTokenVerifier: static keys, remote keys, or a clear error", async () => {
  const { key } = await setup();
  const token = await signToken(key, claims({ net: TEST_NETWORK_ID, exp: NOW_S + 3600 }));
  const expect = { peerId: PEER_A, role: "proxy" } as const;
  // Time never moves on this clock, so none of its timers ever runs.
  const clock = {
    now: () => (NOW_S + 5) * 1000,
    sleep: () => Promise.resolve(),
    setTimer: () => ({ cancel: () => {} }),
  };
  const fixed = await createTokenVerifier({
    networkId: TEST_NETWORK_ID,
    publicKeys: [base64url.encode(key.raw)],
    url: "http://127.0.0.1:1",
    clock,
  });
  await fixed.start();
  assert.ok((await fixed.verifier.verify(token, expect)).ok);
  await fixed.stop();

  await using service = await startTestAuthService({ signingKey: key });
  const remote = await createTokenVerifier({
    networkId: TEST_NETWORK_ID,
    url: service.server.url,
    issuer: "iss",
    clock: new SystemClock(),
  });
  await remote.start();
  try {
    assert.equal(remote.keys.size, 1);
    const verdict = await remote.verifier.verify(token, expect);
    // The real clock is far from NOW_S: what matters is that the signature and key were accepted.
    assert.equal(
      verdict.ok ? "ok" : verdict.code,
      NOW_S * 1000 > Date.now() ? "not-yet-valid" : "expired",
    );
  } finally {
    await remote.stop();
  }
  await assert.rejects(createTokenVerifier({ networkId: "n", clock }), /URL .* or its public keys/);
});
