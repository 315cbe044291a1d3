/**
 * A deterministic in-memory identity for tests: a real Ed25519 key made from
 * a seed, so signatures verify and libp2p nodes can be built from it, and the
 * same seed gives the same peer id every run. Never use it outside tests:
 * anyone can compute its private key.
 *
 * @module
 */
import {
  generateKeyPairFromSeed,
  privateKeyToProtobuf,
  publicKeyToProtobuf,
} from "@libp2p/crypto/keys";
import type { Ed25519PrivateKey } from "@libp2p/interface";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import { asPeerId, type PeerId } from "../ids.ts";
import type { Identity } from "../ports/identity.ts";

/** Length of an Ed25519 seed (RFC 8032). */
const SEED_BYTES = 32;

/**
 * An Ed25519 identity derived from a small number.
 *
 * @example
 * ```ts
 * const identity = await FakeIdentity.create(1);
 * identity.peerId; // the same 12D3KooW… every run
 * ```
 */
export class FakeIdentity implements Identity {
  /** The peer id derived from the public key (`12D3KooW…`). */
  readonly peerId: PeerId;
  readonly #key: Ed25519PrivateKey;

  private constructor(key: Ed25519PrivateKey) {
    this.#key = key;
    this.peerId = asPeerId(peerIdFromPrivateKey(key).toString());
  }

  /** The identity of seed `n` (different `n`, different identities). */
  static async create(n = 1): Promise<FakeIdentity> {
    const seed = Uint8Array.from({ length: SEED_BYTES }, (_, i) => (n * 31 + i) & 0xff);
    return new FakeIdentity(await generateKeyPairFromSeed("Ed25519", seed));
  }

  /** The public key in libp2p protobuf encoding. */
  get publicKey(): Uint8Array {
    return publicKeyToProtobuf(this.#key.publicKey);
  }

  /** The private key in libp2p protobuf encoding. */
  get privateKey(): Uint8Array {
    return privateKeyToProtobuf(this.#key);
  }

  /** The 64-byte Ed25519 signature of `data`. */
  async sign(data: Uint8Array): Promise<Uint8Array> {
    return Uint8Array.from(await this.#key.sign(data));
  }
}
