import assert from "node:assert/strict";
import fc from "fast-check";
import { publicKeyFromProtobuf } from "@libp2p/crypto/keys";
import { FileIdentity } from "../plugins/identity-file/file_identity.ts";
import { issueTokenSigningBytes, signIssueTokenRequest } from "./issue_request.ts";

Deno.test("the signed bytes follow the documented layout", () => {
  const bytes = issueTokenSigningBytes({
    apiKey: "k",
    publicKey: Uint8Array.of(9, 8),
    timestampMs: 258n,
    role: "exit",
  });
  const expected = [
    ...new TextEncoder().encode("p2proxy-auth-v1/IssueToken\u0000"),
    0,
    0,
    0,
    1,
    0x6b,
    0,
    0,
    0,
    2,
    9,
    8,
    0,
    0,
    0,
    0,
    0,
    0,
    1,
    2,
    0,
    0,
    0,
    4,
    ...new TextEncoder().encode("exit"),
  ];
  assert.deepEqual([...bytes], expected);
});

Deno.test("different requests never produce the same signed bytes", () => {
  const fields = fc.record({
    apiKey: fc.string({ maxLength: 8 }),
    publicKey: fc.uint8Array({ maxLength: 8 }),
    timestampMs: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    role: fc.string({ maxLength: 8 }),
  });
  fc.assert(fc.property(fields, fields, (a, b) => {
    const same = a.apiKey === b.apiKey && a.role === b.role && a.timestampMs === b.timestampMs &&
      a.publicKey.length === b.publicKey.length && a.publicKey.every((x, i) =>
        x === b.publicKey[i]
      );
    const bytesA = issueTokenSigningBytes(a);
    const bytesB = issueTokenSigningBytes(b);
    const equal = bytesA.length === bytesB.length && bytesA.every((x, i) => x === bytesB[i]);
    return equal === same;
  }));
});

Deno.test("a signed request verifies with the identity's public key", async () => {
  const identity = await FileIdentity.generate();
  const request = await signIssueTokenRequest(identity, {
    apiKey: "p2pk_x",
    role: "proxy",
    timestampMs: 1_700_000_000_123.7,
  });
  assert.equal(request.timestampMs, 1_700_000_000_123n);
  assert.deepEqual(request.publicKey, identity.publicKey);
  const key = publicKeyFromProtobuf(request.publicKey);
  assert.equal(await key.verify(issueTokenSigningBytes(request), request.signature), true);
  const otherRole = issueTokenSigningBytes({ ...request, role: "exit" });
  assert.equal(await key.verify(otherRole, request.signature), false);
});
