/**
 * The auth service's token-signing key file: created on first run (mode 0600), never replaced;
 * retired keys' public halves read for `previous_signing_keys`. The key formats are in
 * auth/keys.ts.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { exportPKCS8, generateKeyPair } from "jose";
import { describeError } from "../core/errors.ts";
import { TOKEN_ALGORITHM } from "../auth/constants.ts";
import {
  AuthKeyError,
  type SigningKey,
  signingKeyFromPem,
  type VerificationKey,
  verificationKeyFromPem,
} from "../auth/keys.ts";
import { warnIfReadableByOthers, writeNewSecretFile } from "../wire/secret_file.ts";

const logger = getLogger(["p2proxy", "auth"]);

/** A fresh signing key and its PKCS#8 PEM. */
export async function generateSigningKey(): Promise<{ key: SigningKey; pem: string }> {
  const { privateKey } = await generateKeyPair(TOKEN_ALGORITHM, {
    crv: "Ed25519",
    extractable: true,
  });
  const pem = await exportPKCS8(privateKey);
  return { key: await signingKeyFromPem(pem, "a generated key"), pem };
}

/**
 * Loads the signing key at `path`, or creates one there (mode 0600) when no
 * file exists. An existing file is never replaced: replacing it would
 * invalidate every token in circulation. A corrupt or unreadable file is an
 * {@link AuthKeyError} naming it.
 */
export async function loadOrCreateSigningKey(
  path: string,
): Promise<{ key: SigningKey; created: boolean }> {
  const pem = await readKeyText(path);
  if (pem !== undefined) {
    const key = await signingKeyFromPem(pem, path);
    await warnIfReadableByOthers(path, "anyone who reads it can issue tokens.", logger);
    return { key, created: false };
  }
  const { key, pem: fresh } = await generateSigningKey();
  try {
    await writeNewPrivateFile(path, fresh);
  } catch (error) {
    // Another process created it between our read and our write: use theirs.
    if (!(error instanceof AuthKeyError && error.code === "exists")) throw error;
    return await loadOrCreateSigningKey(path);
  }
  logger.info("Created a new token-signing key {kid} in {path}.", { kid: key.kid, path });
  return { key, created: true };
}

/** Loads a retired key's public half from a PEM file (private or public). */
export async function loadVerificationKeyFile(path: string): Promise<VerificationKey> {
  const pem = await readKeyText(path);
  if (pem === undefined) {
    throw new AuthKeyError(
      "unreadable",
      path,
      `The previous signing key "${path}" does not exist. Restore it, or remove it from ` +
        "`previous_signing_keys` once the tokens it signed have expired.",
    );
  }
  return await verificationKeyFromPem(pem, path);
}

async function readKeyText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new AuthKeyError(
      "unreadable",
      path,
      `Could not read the key file "${path}" (${describeError(error)}). Make sure it is a file ` +
        "the auth service may read.",
      { cause: error },
    );
  }
}

/** Writes `text` to a new file at `path` (mode 0600); never replaces. */
async function writeNewPrivateFile(path: string, text: string): Promise<void> {
  try {
    await writeNewSecretFile(path, new TextEncoder().encode(text), logger);
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) throw alreadyExists(path);
    throw unwritable(path, error);
  }
}

function unwritable(path: string, error: unknown): AuthKeyError {
  return new AuthKeyError(
    "unwritable",
    path,
    `Could not write a new signing key to "${path}" (${describeError(error)}). Make sure ` +
      "`state_dir` exists or can be created, and that the auth service may write there.",
    { cause: error },
  );
}

function alreadyExists(path: string): AuthKeyError {
  return new AuthKeyError(
    "exists",
    path,
    `The signing key "${path}" already exists and is never replaced.`,
  );
}
