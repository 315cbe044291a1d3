/**
 * The node's libp2p identity.
 *
 * @module
 */
import type { PeerId } from "../ids.ts";

/** An Ed25519 identity. */
export interface Identity {
  /** The peer id derived from the public key. */
  readonly peerId: PeerId;
  /** The public key in libp2p protobuf encoding. */
  readonly publicKey: Uint8Array;
  /** The private key in libp2p protobuf encoding (what a libp2p node is built from). */
  readonly privateKey: Uint8Array;
  /** Ed25519 signature of `data`. */
  sign(data: Uint8Array): Promise<Uint8Array>;
}
