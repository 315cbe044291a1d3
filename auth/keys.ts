/**
 * The token keys' formats, shared by the auth service (which signs) and the verifiers at hubs and
 * exits (which check): Ed25519, a private key as PKCS#8 PEM (the format `openssl genpkey
 * -algorithm ed25519` writes), a public key as raw bytes, base64 or SPKI PEM. A key's id (`kid`)
 * is its RFC 7638 JWK thumbprint: derived from the key, so it never needs configuring and cannot
 * disagree with it.
 *
 * @module
 */
import {
  base64url,
  calculateJwkThumbprint,
  exportJWK,
  importJWK,
  importPKCS8,
  importSPKI,
  type JWK,
} from "jose";
import { describeError, P2proxyError } from "../core/errors.ts";
import { TOKEN_ALGORITHM } from "./constants.ts";

/** Length of a raw Ed25519 public key (RFC 8032). */
export const ED25519_PUBLIC_KEY_BYTES = 32;

/** Why a key could not be had. */
export type AuthKeyErrorCode = "corrupt" | "unreadable" | "unwritable" | "exists";

/** A key file that cannot be used; `path` names it. */
export class AuthKeyError extends P2proxyError<AuthKeyErrorCode> {
  /** The file at fault. */
  readonly path: string;

  constructor(code: AuthKeyErrorCode, path: string, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.path = path;
  }
}

/** A public key that verifies tokens. */
export interface VerificationKey {
  /** RFC 7638 thumbprint of the key: the token header's `kid`. */
  readonly kid: string;
  /** The raw 32-byte Ed25519 public key (what PublicKeys publishes). */
  readonly raw: Uint8Array;
  readonly publicKey: CryptoKey;
}

/** A key that signs tokens, with its public half. */
export interface SigningKey extends VerificationKey {
  readonly privateKey: CryptoKey;
}

/** The RFC 7638 thumbprint of an Ed25519 public key, base64url. */
export async function keyIdOf(raw: Uint8Array): Promise<string> {
  return await calculateJwkThumbprint({ kty: "OKP", crv: "Ed25519", x: base64url.encode(raw) });
}

/** A verification key from raw public key bytes; throws a TypeError for a wrong length. */
export async function verificationKeyFromRaw(raw: Uint8Array): Promise<VerificationKey> {
  if (raw.length !== ED25519_PUBLIC_KEY_BYTES) {
    throw new TypeError(
      `An Ed25519 public key is ${ED25519_PUBLIC_KEY_BYTES} bytes, got ${raw.length}.`,
    );
  }
  const copy = Uint8Array.from(raw);
  const jwk: JWK = { kty: "OKP", crv: "Ed25519", x: base64url.encode(copy) };
  const publicKey = await importJWK(jwk, TOKEN_ALGORITHM) as CryptoKey;
  return { kid: await keyIdOf(copy), raw: copy, publicKey };
}

/**
 * Parses a public key written in a config: base64url or base64 of the 32 raw
 * bytes (what PublicKeys returns and `auth serve` logs), or an SPKI PEM.
 */
export async function verificationKeyFromText(text: string): Promise<VerificationKey> {
  const trimmed = text.trim();
  if (trimmed.startsWith("-----BEGIN")) return await verificationKeyFromPem(trimmed, "the key");
  let raw: Uint8Array;
  try {
    raw = base64url.decode(trimmed.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, ""));
  } catch (error) {
    throw new TypeError(
      `The public key "${trimmed.slice(0, 16)}…" is neither base64 nor a PEM block.`,
      { cause: error },
    );
  }
  return await verificationKeyFromRaw(raw);
}

/** A signing key from a PKCS#8 PEM; `source` names where it came from in errors. */
export async function signingKeyFromPem(pem: string, source: string): Promise<SigningKey> {
  let jwk: JWK;
  let privateKey: CryptoKey;
  try {
    const extractable = await importPKCS8(pem, TOKEN_ALGORITHM, { extractable: true });
    jwk = await exportJWK(extractable);
    privateKey = await importPKCS8(pem, TOKEN_ALGORITHM);
  } catch (error) {
    throw corruptKeyError(source, "it is not an Ed25519 private key in PKCS#8 PEM", error);
  }
  if (jwk.crv !== "Ed25519" || typeof jwk.x !== "string") {
    throw corruptKeyError(source, `it holds a ${jwk.crv ?? jwk.kty} key, not an Ed25519 key`);
  }
  const verification = await verificationKeyFromRaw(base64url.decode(jwk.x));
  return { ...verification, privateKey };
}

/** A verification key from a PEM holding either a private (PKCS#8) or a public (SPKI) key. */
export async function verificationKeyFromPem(
  pem: string,
  source: string,
): Promise<VerificationKey> {
  if (pem.includes("PRIVATE KEY")) {
    const { kid, raw, publicKey } = await signingKeyFromPem(pem, source);
    return { kid, raw, publicKey };
  }
  try {
    const spki = await importSPKI(pem, TOKEN_ALGORITHM, { extractable: true });
    const jwk = await exportJWK(spki);
    if (jwk.crv !== "Ed25519" || typeof jwk.x !== "string") throw new TypeError("not Ed25519");
    return await verificationKeyFromRaw(base64url.decode(jwk.x));
  } catch (error) {
    throw corruptKeyError(source, "it is not an Ed25519 key in PEM (PKCS#8 or SPKI)", error);
  }
}

/** The error for a key that cannot be used: `source` names where it came from, `reason` says why. */
function corruptKeyError(source: string, reason: string, cause?: unknown): AuthKeyError {
  return new AuthKeyError(
    "corrupt",
    source,
    `The signing key "${source}" cannot be used: ${reason}${
      cause === undefined ? "" : ` (${describeError(cause)})`
    }. Restore it from a backup; replacing it invalidates every token it signed.`,
    cause === undefined ? undefined : { cause },
  );
}
