/**
 * A throwaway Ed25519 identity that lives only in memory: a new peer id every start, nothing
 * written. For the demo and for programs that run a short-lived node.
 *
 * @module
 */
import { generateKeyPair, privateKeyToProtobuf, publicKeyToProtobuf } from "@libp2p/crypto/keys";
import type { Ed25519PrivateKey } from "@libp2p/interface";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import { asPeerId, type PeerId } from "../../core/ids.ts";
import type { Identity } from "../../core/ports/identity.ts";

/**
 * A fresh random identity.
 *
 * @example
 * ```ts
 * const identity = await MemoryIdentity.generate();
 * identity.peerId; // 12D3KooW…, different every time
 * ```
 */
export class MemoryIdentity implements Identity {
  /** The peer id derived from the public key (`12D3KooW…`). */
  readonly peerId: PeerId;
  readonly #key: Ed25519PrivateKey;

  private constructor(key: Ed25519PrivateKey) {
    this.#key = key;
    this.peerId = asPeerId(peerIdFromPrivateKey(key).toString());
  }

  /** A new random Ed25519 identity. */
  static async generate(): Promise<MemoryIdentity> {
    return new MemoryIdentity(await generateKeyPair("Ed25519"));
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
