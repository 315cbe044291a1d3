/**
 * Registrations signed by the exit's own key (`SignedRegistration` in
 * proto/p2proxy/directory/v1/directory.proto, docs/wire-protocols.md#signed-registrations):
 * the proof that a registration is the exit's when it arrives over another peer's connection.
 * A plain `RegisterRequest` needs no signature: the hub registers the connection's
 * authenticated peer.
 *
 * The exit signs `"p2proxy-directory-registration-v1:"` followed by the encoded
 * `RegistrationClaim` (its peer id, the hub's peer id, the time, the registration). The hub
 * accepts the claim only if the signature verifies with the public key inside the claimed
 * peer id, the claim names this hub, and its time is within
 * {@link SIGNED_REGISTRATION_WINDOW_MS} of the hub's clock (a replay can only repeat, within
 * that window, what the exit itself said to this hub).
 *
 * @module
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { peerIdFromString } from "@libp2p/peer-id";
import { describeError, P2proxyError } from "../core/errors.ts";
import { asPeerId, type PeerId } from "../core/ids.ts";
import {
  type RegisterRequest,
  type RegistrationClaim,
  RegistrationClaimSchema,
  type SignedRegistration,
  SignedRegistrationSchema,
} from "../proto/gen/p2proxy/directory/v1/directory_pb.ts";

/** How far a claim's time may be from the hub's clock, either way. */
export const SIGNED_REGISTRATION_WINDOW_MS = 30_000;

/** Prefixed to the claim before signing, so a signature made for another purpose never verifies. */
const SIGNING_CONTEXT = new TextEncoder().encode("p2proxy-directory-registration-v1:");

/** Why a signed registration is refused. */
export type SignedRegistrationErrorCode =
  | "malformed"
  | "bad-signature"
  | "wrong-hub"
  | "stale";

/** A signed registration the hub refuses (it answers INVALID_ARGUMENT or PERMISSION_DENIED). */
export class SignedRegistrationError extends P2proxyError<SignedRegistrationErrorCode> {}

/** The bytes an exit signs for `claim`. */
function signingBytes(claim: Uint8Array): Uint8Array {
  const out = new Uint8Array(SIGNING_CONTEXT.length + claim.length);
  out.set(SIGNING_CONTEXT);
  out.set(claim, SIGNING_CONTEXT.length);
  return out;
}

/**
 * Exit side: `registration` signed for `hub` with the exit's key.
 *
 * @example
 * ```ts ignore
 * const signed = await signRegistration(registration, {
 *   peerId: identity.peerId, hub, now: Date.now(), sign: (bytes) => identity.sign(bytes),
 * });
 * ```
 */
export async function signRegistration(
  registration: RegisterRequest,
  signer: {
    readonly peerId: PeerId;
    readonly hub: PeerId;
    readonly now: number;
    readonly sign: (data: Uint8Array) => Promise<Uint8Array> | Uint8Array;
  },
): Promise<SignedRegistration> {
  const claim = toBinary(
    RegistrationClaimSchema,
    create(RegistrationClaimSchema, {
      peerId: signer.peerId,
      hubPeerId: signer.hub,
      issuedAtMs: BigInt(Math.max(0, Math.floor(signer.now))),
      registration,
    }),
  );
  return create(SignedRegistrationSchema, {
    claim,
    signature: await signer.sign(signingBytes(claim)),
  });
}

/** A verified claim: the exit it proves, and its registration. */
export interface VerifiedClaim {
  readonly peerId: PeerId;
  readonly registration: RegisterRequest;
}

/**
 * Hub side: the claim of `signed` once its signature, hub and time check out.
 *
 * @throws {SignedRegistrationError} `malformed` (undecodable claim, an id without an inline
 * key), `bad-signature`, `wrong-hub`, `stale` (outside the window).
 */
export async function verifySignedRegistration(
  signed: SignedRegistration,
  hub: { readonly peerId: PeerId; readonly now: number },
): Promise<VerifiedClaim> {
  let claim: RegistrationClaim;
  try {
    claim = fromBinary(RegistrationClaimSchema, signed.claim);
  } catch (error) {
    throw new SignedRegistrationError(
      "malformed",
      `The signed registration's claim is not a RegistrationClaim (${describeError(error)}).`,
    );
  }
  let publicKey;
  try {
    publicKey = peerIdFromString(claim.peerId).publicKey;
  } catch (error) {
    throw new SignedRegistrationError(
      "malformed",
      `The claim's peer_id ${JSON.stringify(claim.peerId.slice(0, 80))} is not a peer id ` +
        `(${describeError(error)}).`,
    );
  }
  if (!publicKey) {
    throw new SignedRegistrationError(
      "malformed",
      `Peer id ${claim.peerId} does not carry its public key: sign with an Ed25519 or ` +
        "secp256k1 identity, or register over the exit's own connection.",
    );
  }
  let valid = false;
  try {
    valid = await publicKey.verify(signingBytes(signed.claim), signed.signature);
  } catch {
    valid = false;
  }
  if (!valid) {
    throw new SignedRegistrationError(
      "bad-signature",
      `The signature does not verify with the key of ${claim.peerId}: only the exit can sign ` +
        "its registration.",
    );
  }
  if (claim.hubPeerId !== hub.peerId) {
    throw new SignedRegistrationError(
      "wrong-hub",
      `The registration was signed for hub ${JSON.stringify(claim.hubPeerId)}, not this hub ` +
        `(${hub.peerId}): sign one for each hub.`,
    );
  }
  const skew = Number(claim.issuedAtMs) - hub.now;
  if (Math.abs(skew) > SIGNED_REGISTRATION_WINDOW_MS) {
    throw new SignedRegistrationError(
      "stale",
      `The registration was signed ${Math.round(-skew / 1000)} s ${
        skew < 0 ? "ago" : "in the future"
      }; the hub accepts ±${SIGNED_REGISTRATION_WINDOW_MS / 1000} s: sign it again (check the ` +
        "exit's clock).",
    );
  }
  if (!claim.registration) {
    throw new SignedRegistrationError("malformed", "The claim carries no registration.");
  }
  return { peerId: asPeerId(claim.peerId), registration: claim.registration };
}
