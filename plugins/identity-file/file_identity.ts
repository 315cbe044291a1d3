/**
 * The node identity (docs/authentication.md#identity): an Ed25519 libp2p key kept in a file in
 * libp2p protobuf encoding, `node_keypair.bin` in the state directory by
 * default (the anchor's name and format).
 *
 * @module
 */
import {
  generateKeyPair,
  generateKeyPairFromSeed,
  privateKeyFromProtobuf,
  privateKeyToProtobuf,
  publicKeyToProtobuf,
} from "@libp2p/crypto/keys";
import type { Ed25519PrivateKey, PrivateKey } from "@libp2p/interface";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import { dirname } from "node:path";
import { getLogger } from "@logtape/logtape";
import { describeError } from "../../core/errors.ts";
import { asPeerId, type PeerId } from "../../core/ids.ts";
import type { Identity } from "../../core/ports/identity.ts";
import { IdentityError } from "./identity_error.ts";
import { warnIfReadableByOthers, writeNewSecretFile } from "../../wire/secret_file.ts";

const logger = getLogger(["p2proxy", "identity-file"]);

/** Owner read/write only: the file is the node's private key. */

/** Length of an Ed25519 seed (RFC 8032), the first half of libp2p's 64-byte raw private key. */
const ED25519_SEED_BYTES = 32;

/** What every identity error adds: how to start over, and what that costs. */
const START_OVER_HINT =
  "To create a new identity instead, move the file away and start again; note that this changes the node's peer id.";

/** An Ed25519 identity backed by a libp2p private key; signs in process. */
export class FileIdentity implements Identity {
  /** The peer id derived from the public key (`12D3KooW…`). */
  readonly peerId: PeerId;
  readonly #key: Ed25519PrivateKey;

  private constructor(key: Ed25519PrivateKey) {
    this.#key = key;
    this.peerId = asPeerId(peerIdFromPrivateKey(key).toString());
  }

  /** Wraps an Ed25519 libp2p private key. */
  static fromPrivateKey(key: Ed25519PrivateKey): FileIdentity {
    return new FileIdentity(key);
  }

  /** A fresh identity that lives only in memory (for tests and throwaway nodes). */
  static async generate(): Promise<FileIdentity> {
    return new FileIdentity(await generateKeyPair("Ed25519"));
  }

  /**
   * Reads a libp2p protobuf private key. Throws `IdentityError` `corrupt` or
   * `wrong-key-type`, naming `path` (where the bytes came from).
   */
  static async fromProtobuf(bytes: Uint8Array, path: string): Promise<FileIdentity> {
    let key: PrivateKey;
    try {
      key = privateKeyFromProtobuf(bytes);
    } catch (error) {
      throw new IdentityError(
        "corrupt",
        path,
        `The identity file "${path}" is corrupt: it is not a libp2p private key (${
          describeError(error)
        }). Restore it from a backup to keep this node's peer id. ${START_OVER_HINT}`,
        { cause: error },
      );
    }
    if (key.type !== "Ed25519") {
      throw new IdentityError(
        "wrong-key-type",
        path,
        `The identity file "${path}" holds a ${key.type} key, but p2proxy identities are Ed25519. ` +
          `Point the identity at an Ed25519 key file. ${START_OVER_HINT}`,
      );
    }
    if (!(await halvesMatch(key))) {
      throw new IdentityError(
        "corrupt",
        path,
        `The identity file "${path}" is corrupt: its public key does not belong to its private key. ` +
          `Restore it from a backup to keep this node's peer id. ${START_OVER_HINT}`,
      );
    }
    return new FileIdentity(key);
  }

  /** The public key in libp2p protobuf encoding (a copy). */
  get publicKey(): Uint8Array {
    return publicKeyToProtobuf(this.#key.publicKey);
  }

  /** The private key in libp2p protobuf encoding (a copy). */
  get privateKey(): Uint8Array {
    return privateKeyToProtobuf(this.#key);
  }

  /** The libp2p key itself, for building a libp2p node. */
  get libp2pKey(): Ed25519PrivateKey {
    return this.#key;
  }

  /** The 64-byte Ed25519 signature of `data`. */
  async sign(data: Uint8Array): Promise<Uint8Array> {
    return Uint8Array.from(await this.#key.sign(data));
  }
}

/**
 * Loads the identity at `path`, or creates one there (mode 0600) when no file
 * exists. An existing file is never replaced: a corrupt, unreadable or
 * non-Ed25519 file is an `IdentityError` naming it. Warns when an existing
 * file is readable by group or others.
 */
export async function loadOrCreateIdentity(
  path: string,
): Promise<{ identity: FileIdentity; created: boolean }> {
  return await loadOrCreate(path, true);
}

async function loadOrCreate(
  path: string,
  mayRetry: boolean,
): Promise<{ identity: FileIdentity; created: boolean }> {
  const bytes = await readIdentityBytes(path);
  if (bytes === undefined) {
    try {
      return { identity: await createIdentityFile(path), created: true };
    } catch (error) {
      // Another process created it between our read and our write: use theirs (once; a
      // dangling symlink would otherwise loop).
      if (!(mayRetry && error instanceof IdentityError && error.code === "exists")) throw error;
      return await loadOrCreate(path, false);
    }
  }
  const identity = await FileIdentity.fromProtobuf(bytes, path);
  await warnIfReadableByOthers(path, "it holds the node's private key.", logger);
  return { identity, created: false };
}

/**
 * Creates a new Ed25519 identity at `path` (mode 0600), creating its folder
 * if needed. The key is written to a temp file, synced, then linked into
 * place, so a crash never leaves half a key and an existing file is never
 * replaced (`IdentityError` `exists`).
 */
export async function createIdentityFile(path: string): Promise<FileIdentity> {
  try {
    await Deno.mkdir(dirname(path), { recursive: true });
  } catch (error) {
    throw unwritable(path, error);
  }
  if (await exists(path)) throw alreadyExists(path);
  const key = await generateKeyPair("Ed25519");
  try {
    await writeNewSecretFile(path, privateKeyToProtobuf(key), logger);
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) throw alreadyExists(path);
    throw unwritable(path, error);
  }
  const identity = FileIdentity.fromPrivateKey(key);
  logger.info("Created a new node identity {peerId} in {path}.", { peerId: identity.peerId, path });
  return identity;
}

/** The file's bytes, or undefined when there is no file. */
async function readIdentityBytes(path: string): Promise<Uint8Array | undefined> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new IdentityError(
      "unreadable",
      path,
      `Could not read the identity file "${path}" (${describeError(error)}). ` +
        `Make sure it is a file that p2proxy may read. ${START_OVER_HINT}`,
      { cause: error },
    );
  }
}

async function halvesMatch(key: Ed25519PrivateKey): Promise<boolean> {
  const derived = await generateKeyPairFromSeed("Ed25519", key.raw.subarray(0, ED25519_SEED_BYTES));
  return derived.publicKey.equals(key.publicKey);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw new IdentityError(
      "unreadable",
      path,
      `Could not check the identity file "${path}" (${describeError(error)}). ` +
        "Make sure p2proxy may read its folder.",
      { cause: error },
    );
  }
}

function alreadyExists(path: string): IdentityError {
  return new IdentityError(
    "exists",
    path,
    `The identity file "${path}" already exists, and p2proxy never replaces an identity ` +
      "(that would change the node's peer id). Choose another path, or move the file away first.",
  );
}

function unwritable(path: string, error: unknown): IdentityError {
  return new IdentityError(
    "unwritable",
    path,
    `Could not write a new identity to "${path}" (${describeError(error)}). ` +
      "Make sure its folder exists or can be created, and that p2proxy may write there.",
    { cause: error },
  );
}
