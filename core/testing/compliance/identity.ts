/**
 * Compliance suite of the `Identity` port: any identity, built-in or
 * third-party (an HSM, a cloud KMS), runs it against itself.
 *
 * Verification uses `@libp2p/crypto` and `@libp2p/peer-id`: pure library
 * calls, no I/O.
 *
 * @example
 * ```ts
 * import { identityCompliance } from "@p2proxy/p2proxy/testing";
 *
 * Deno.test("KmsIdentity is an Identity", (t) =>
 *   identityCompliance(t, async () => ({ identity: await KmsIdentity.open(TEST_KEY) })));
 * ```
 *
 * @module
 */
import type { TestContext } from "./_test_context.ts";
import assert from "node:assert/strict";
import { privateKeyFromProtobuf, publicKeyFromProtobuf } from "@libp2p/crypto/keys";
import { peerIdFromPublicKey } from "@libp2p/peer-id";
import type { Identity } from "../../ports/identity.ts";
import { type Awaitable, type Releasable, withFixture } from "./_harness.ts";

/** What an identity factory hands the suite. */
export interface IdentityFixture extends Releasable {
  /** The identity under test. */
  readonly identity: Identity;
  /** The same identity loaded again, as after a restart. Omit it for an ephemeral identity. */
  readonly reopen?: () => Promise<Identity>;
}

/** Ed25519 signatures are always 64 bytes (RFC 8032 §5.1.6). */
const ED25519_SIGNATURE_BYTES = 64;

/** A large message to sign: 1 MiB. */
const LARGE_MESSAGE_BYTES = 1 << 20;

/**
 * Runs the `Identity` compliance steps: the peer id is stable and derived from
 * the public key; both keys are Ed25519 in libp2p protobuf encoding and belong
 * together; `sign` gives a 64-byte signature that the public key verifies and
 * that does not verify other data; empty and large inputs can be signed; a
 * reopened identity is the same one (when `reopen` is given).
 */
export async function identityCompliance(
  t: TestContext,
  make: () => Awaitable<IdentityFixture>,
): Promise<void> {
  let persists = false;
  await t.step(
    "the peer id is stable and derived from the public key",
    () =>
      withFixture(make, ({ identity, reopen }) => {
        persists = reopen !== undefined;
        assert.equal(identity.peerId, identity.peerId);
        const derived = peerIdFromPublicKey(publicKeyFromProtobuf(identity.publicKey)).toString();
        assert.equal(identity.peerId, derived);
        return Promise.resolve();
      }),
  );

  await t.step(
    "both keys are Ed25519 in libp2p protobuf encoding and belong together",
    () =>
      withFixture(make, ({ identity }) => {
        const publicKey = publicKeyFromProtobuf(identity.publicKey);
        assert.equal(publicKey.type, "Ed25519");
        const privateKey = privateKeyFromProtobuf(identity.privateKey);
        assert.equal(privateKey.type, "Ed25519");
        assert.ok(
          privateKey.publicKey.equals(publicKey),
          "the private key is not the public key's",
        );
        return Promise.resolve();
      }),
  );

  await t.step(
    "sign gives a 64-byte Ed25519 signature the public key verifies",
    () =>
      withFixture(make, async ({ identity }) => {
        const data = new TextEncoder().encode("p2proxy identity compliance");
        const signature = await identity.sign(data);
        assert.ok(signature instanceof Uint8Array, "sign must resolve to a Uint8Array");
        assert.equal(signature.byteLength, ED25519_SIGNATURE_BYTES);
        assert.equal(await verify(identity, data, signature), true);
      }),
  );

  await t.step(
    "a signature does not verify other data",
    () =>
      withFixture(make, async ({ identity }) => {
        const data = new TextEncoder().encode("pay 10 to alice");
        const signature = await identity.sign(data);
        const tampered = new TextEncoder().encode("pay 99 to alice");
        assert.equal(await verify(identity, tampered, signature), false);
      }),
  );

  await t.step("signs empty and large inputs", () =>
    withFixture(make, async ({ identity }) => {
      const empty = new Uint8Array(0);
      assert.equal(await verify(identity, empty, await identity.sign(empty)), true);
      const large = new Uint8Array(LARGE_MESSAGE_BYTES).map((_, i) => i % 251);
      assert.equal(await verify(identity, large, await identity.sign(large)), true);
    }));

  await t.step({
    name: "a reopened identity is the same identity",
    ignore: !persists,
    fn: () =>
      withFixture(make, async ({ identity, reopen }) => {
        assert.ok(reopen, "the fixture stopped offering reopen()");
        const again = await reopen();
        assert.equal(again.peerId, identity.peerId);
        assert.deepStrictEqual(new Uint8Array(again.publicKey), new Uint8Array(identity.publicKey));
        const data = new TextEncoder().encode("same key after a restart");
        assert.equal(await verify(identity, data, await again.sign(data)), true);
      }),
  });
}

async function verify(identity: Identity, data: Uint8Array, signature: Uint8Array) {
  return await publicKeyFromProtobuf(identity.publicKey).verify(data, signature);
}
