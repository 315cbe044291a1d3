/**
 * API keys: generated with 256 bits of randomness, stored as SHA-256 hashes,
 * matched in constant time.
 *
 * Why SHA-256 and not a slow password hash (scrypt, PBKDF2): slow hashes
 * protect low-entropy secrets people choose. These keys are machine-made
 * and 256 bits strong, so guessing one from its hash is as hopeless as
 * guessing the key itself, and a fast hash keeps IssueToken cheap and
 * immune to CPU exhaustion by bogus requests.
 *
 * @module
 */
import { constantTimeEqual } from "../core/constant_time.ts";
import { base64url } from "jose";
import {
  API_KEY_HASH_SCHEME,
  API_KEY_PREFIX,
  type ApiKeyEntry,
  type ApiKeyRole,
} from "../core/config/auth_config.ts";
import type { TokenRole } from "../auth/token.ts";

/** Random bytes in a generated key: 256 bits, beyond any brute force. */
const API_KEY_RANDOM_BYTES = 32;

/** Length of a SHA-256 digest. */
const SHA256_BYTES = 32;

/** Longest API key IssueToken looks at; generated keys are 48 characters. */
export const MAX_API_KEY_CHARS = 512;

/** A new API key: `p2pk_` and 43 base64url characters. */
export function generateApiKey(): string {
  return API_KEY_PREFIX +
    base64url.encode(crypto.getRandomValues(new Uint8Array(API_KEY_RANDOM_BYTES)));
}

/** The stored form of `key`: `sha256:<base64url of SHA-256(UTF-8 key)>`. */
export async function hashApiKey(key: string): Promise<string> {
  return `${API_KEY_HASH_SCHEME}:${base64url.encode(await digest(key))}`;
}

async function digest(key: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
}

/** True when a key allowed `allowed` may ask for a token of `role`. */
export function roleAllows(allowed: ApiKeyRole, role: TokenRole): boolean {
  return allowed === "both" || allowed === role;
}

/** The accepted API keys, looked up by the hash of a presented key. */
export class ApiKeyTable {
  readonly #entries: readonly { entry: ApiKeyEntry; digest: Uint8Array }[];

  /** A table of `entries` (hashes as `sha256:<base64url>`, validated by the config). */
  constructor(entries: readonly ApiKeyEntry[]) {
    this.#entries = entries.map((entry) => ({ entry, digest: digestOfHash(entry.hash) }));
  }

  /** How many keys are accepted. */
  get size(): number {
    return this.#entries.length;
  }

  /**
   * The entry whose hash matches `key`, or undefined. Every entry is compared,
   * in constant time, so the time taken tells nothing about which bytes of
   * which hash matched.
   */
  async match(key: string): Promise<ApiKeyEntry | undefined> {
    if (key.length === 0 || key.length > MAX_API_KEY_CHARS) return undefined;
    const presented = await digest(key);
    let found: ApiKeyEntry | undefined;
    for (const { entry, digest } of this.#entries) {
      if (constantTimeEqual(presented, digest) && found === undefined) found = entry;
    }
    return found;
  }
}

function digestOfHash(hash: string): Uint8Array {
  const [scheme, encoded] = hash.split(":");
  const bytes = scheme === API_KEY_HASH_SCHEME && encoded !== undefined
    ? base64url.decode(encoded)
    : new Uint8Array(0);
  if (bytes.length !== SHA256_BYTES) {
    throw new TypeError(`The API key hash "${hash.slice(0, 12)}…" is not a sha256 hash.`);
  }
  return bytes;
}

export { constantTimeEqual } from "../core/constant_time.ts";
