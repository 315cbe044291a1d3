import assert from "node:assert/strict";
import { generateKeyPair, privateKeyToProtobuf, publicKeyToProtobuf } from "@libp2p/crypto/keys";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import type { PrivateKey } from "@libp2p/interface";
import { asPeerId } from "../../ids.ts";
import type { Identity } from "../../ports/identity.ts";
import { FakeIdentity } from "../fake_identity.ts";
import { identityCompliance } from "./identity.ts";
import { recordingContext } from "./_recording_context.ts";

/** An in-memory identity over a libp2p key; `signer` lets a test sign with another key. */
function memoryIdentity(key: PrivateKey, signer: PrivateKey = key): Identity {
  return {
    peerId: asPeerId(peerIdFromPrivateKey(key).toString()),
    publicKey: publicKeyToProtobuf(key.publicKey),
    privateKey: privateKeyToProtobuf(key),
    sign: async (data) => new Uint8Array(await signer.sign(data)),
  };
}

Deno.test("an in-memory Ed25519 identity passes the identity compliance suite", async (t) => {
  const key = await generateKeyPair("Ed25519");
  await identityCompliance(t, () => ({
    identity: memoryIdentity(key),
    reopen: () => Promise.resolve(memoryIdentity(key)),
  }));
});

Deno.test("the identity suite fails an identity that signs with another key", async () => {
  const key = await generateKeyPair("Ed25519");
  const other = await generateKeyPair("Ed25519");
  const recording = recordingContext();
  await identityCompliance(recording.t, () => ({ identity: memoryIdentity(key, other) }));
  assert.deepEqual(recording.failed(), [
    "sign gives a 64-byte Ed25519 signature the public key verifies",
    "signs empty and large inputs",
  ]);
});

Deno.test("the identity suite fails a peer id that is not the public key's", async () => {
  const key = await generateKeyPair("Ed25519");
  const other = await generateKeyPair("Ed25519");
  const recording = recordingContext();
  await identityCompliance(recording.t, () => ({
    identity: { ...memoryIdentity(key), peerId: asPeerId(peerIdFromPrivateKey(other).toString()) },
  }));
  assert.deepEqual(recording.failed(), ["the peer id is stable and derived from the public key"]);
});

Deno.test("the identity suite fails a secp256k1 identity", async () => {
  const key = await generateKeyPair("secp256k1");
  const recording = recordingContext();
  await identityCompliance(recording.t, () => ({ identity: memoryIdentity(key) }));
  assert.ok(
    recording.failed().includes(
      "both keys are Ed25519 in libp2p protobuf encoding and belong together",
    ),
  );
});

Deno.test("the identity suite fails a reopen that yields another identity", async () => {
  const key = await generateKeyPair("Ed25519");
  const recording = recordingContext();
  await identityCompliance(recording.t, () => ({
    identity: memoryIdentity(key),
    reopen: async () => memoryIdentity(await generateKeyPair("Ed25519")),
  }));
  assert.deepEqual(recording.failed(), ["a reopened identity is the same identity"]);
});

Deno.test("FakeIdentity passes the identity compliance suite, the same key for the same seed", async (t) => {
  await identityCompliance(t, async () => ({ identity: await FakeIdentity.create(7) }));
  assert.equal((await FakeIdentity.create(7)).peerId, (await FakeIdentity.create(7)).peerId);
  assert.notEqual((await FakeIdentity.create(7)).peerId, (await FakeIdentity.create(8)).peerId);
});
