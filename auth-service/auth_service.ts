/**
 * `p2proxy.auth.v1.AuthService` (docs/wire-protocols.md#auth-service): IssueToken exchanges an API
 * key plus a signature by the node's identity key for a short-lived token
 * bound to the node's peer id; PublicKeys publishes the keys that verify
 * tokens, so hubs and exits check them offline.
 *
 * @module
 */
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { publicKeyFromProtobuf } from "@libp2p/crypto/keys";
import { peerIdFromPublicKey } from "@libp2p/peer-id";
import type { PublicKey as Libp2pPublicKey } from "@libp2p/interface";
import { getLogger } from "@logtape/logtape";
import { AuthService } from "../proto/gen/p2proxy/auth/v1/auth_pb.ts";
import { describeError } from "../core/errors.ts";
import { type ApiKeyTable, MAX_API_KEY_CHARS, roleAllows } from "./api_keys.ts";
import { ISSUE_TIMESTAMP_WINDOW_MS, PUBLIC_KEY_ALGORITHM } from "../auth/constants.ts";
import type { IssuedToken, PublishedKey } from "../auth/client.ts";
import { issueTokenSigningBytes, type SignedIssueTokenRequest } from "../auth/issue_request.ts";
import type { SigningKey, VerificationKey } from "../auth/keys.ts";
import {
  isTokenRole,
  newTokenId,
  signToken,
  type TokenClaims,
  type TokenRole,
} from "../auth/token.ts";

const logger = getLogger(["p2proxy", "auth"]);

/** Longest protobuf public key looked at; an Ed25519 one is 36 bytes. */
const MAX_PUBLIC_KEY_BYTES = 1024;

/** Length of an Ed25519 signature (RFC 8032). */
const ED25519_SIGNATURE_BYTES = 64;

/** What the service needs to issue tokens; swapped whole on a reload. */
export interface AuthServiceSettings {
  /** The `net` claim. */
  readonly networkId: string;
  /** The `iss` claim. */
  readonly issuer: string;
  readonly tokenTtlMs: number;
  /** The key that signs new tokens. */
  readonly signingKey: SigningKey;
  /** Retired keys still published so that the tokens they signed stay valid until they expire. */
  readonly previousKeys: readonly VerificationKey[];
  readonly apiKeys: ApiKeyTable;
}

/** The auth service's logic, independent of the transport that carries it. */
export class AuthTokenService {
  #settings: AuthServiceSettings;
  readonly #now: () => number;

  /** A service issuing tokens per `settings`; `now` is the clock (ms since the epoch). */
  constructor(settings: AuthServiceSettings, options: { now?: () => number } = {}) {
    this.#settings = settings;
    this.#now = options.now ?? Date.now;
  }

  /** The current settings. */
  get settings(): AuthServiceSettings {
    return this.#settings;
  }

  /** Replaces the settings (a reload): requests in flight finish with the old ones. */
  update(settings: AuthServiceSettings): void {
    this.#settings = settings;
  }

  /**
   * Checks the request and issues a token for the signer's peer id. Throws
   * a `ConnectError`: `invalid_argument` for a malformed request,
   * `unauthenticated` for an unknown key or a bad signature,
   * `permission_denied` for a role the key may not ask for,
   * `failed_precondition` for a timestamp outside ±5 min.
   */
  async issueToken(request: SignedIssueTokenRequest): Promise<IssuedToken> {
    const settings = this.#settings;
    const role = checkRole(request.role);
    const entry = request.apiKey.length > MAX_API_KEY_CHARS
      ? undefined
      : await settings.apiKeys.match(request.apiKey);
    if (entry === undefined) {
      throw refuse(
        Code.Unauthenticated,
        "The API key is not accepted by this auth service: check the node's `api_key` (or " +
          'P2PROXY_API_KEY), or create a key with "p2proxy auth add-key".',
      );
    }
    if (!roleAllows(entry.role, role)) {
      throw refuse(
        Code.PermissionDenied,
        `The API key "${entry.name}" may ask for ${entry.role} tokens, not ${role} tokens: use ` +
          `a key created with --role ${role} (or --role both).`,
      );
    }
    const now = this.#now();
    checkTimestamp(request.timestampMs, now);
    const nodeKey = parseNodeKey(request.publicKey);
    await checkSignature(nodeKey, request);
    const peerId = peerIdFromPublicKey(nodeKey).toString();
    const iat = Math.floor(now / 1000);
    const exp = iat + Math.max(1, Math.round(settings.tokenTtlMs / 1000));
    const claims: TokenClaims = {
      sub: peerId,
      role,
      net: settings.networkId,
      iss: settings.issuer,
      iat,
      exp,
      jti: newTokenId(),
    };
    const token = await signToken(settings.signingKey, claims);
    logger.info("Issued a {role} token to {peerId} for the key {key}, valid until {expires}.", {
      role,
      peerId,
      key: entry.name,
      expires: new Date(exp * 1000).toISOString(),
    });
    return { token, expiresAtMs: BigInt(exp) * 1000n };
  }

  /** The keys that verify tokens now: the signing key first, then retired ones. */
  publicKeys(): PublishedKey[] {
    const { signingKey, previousKeys } = this.#settings;
    const seen = new Set<string>();
    const keys: PublishedKey[] = [];
    for (const key of [signingKey, ...previousKeys]) {
      if (seen.has(key.kid)) continue;
      seen.add(key.kid);
      keys.push({ keyId: key.kid, algorithm: PUBLIC_KEY_ALGORITHM, publicKey: key.raw });
    }
    return keys;
  }

  /** Registers `p2proxy.auth.v1.AuthService` on a Connect router. */
  register(router: ConnectRouter): void {
    router.service(AuthService, {
      issueToken: (request) => this.issueToken(request),
      publicKeys: () => ({ keys: this.publicKeys() }),
    });
  }
}

/** A refusal, logged once here where it is decided. */
function refuse(code: Code, message: string): ConnectError {
  logger.warn("Refused a token request ({code}): {message}", { code: Code[code], message });
  return new ConnectError(message, code);
}

function checkRole(role: string): TokenRole {
  if (isTokenRole(role)) return role;
  throw refuse(
    Code.InvalidArgument,
    `The role ${JSON.stringify(role.slice(0, 32))} is not one a token is issued for: ask for ` +
      '"proxy" or "exit".',
  );
}

function checkTimestamp(timestampMs: bigint, nowMs: number): void {
  const offsetMs = Number(timestampMs) - nowMs;
  if (Math.abs(offsetMs) <= ISSUE_TIMESTAMP_WINDOW_MS) return;
  const seconds = Math.round(Math.abs(offsetMs) / 1000);
  const direction = offsetMs < 0 ? "behind" : "ahead of";
  throw refuse(
    Code.FailedPrecondition,
    `The request's timestamp is ${seconds} s ${direction} the auth service's clock (at most ` +
      `${ISSUE_TIMESTAMP_WINDOW_MS / 1000} s are allowed): synchronise this node's clock (NTP) ` +
      "and retry.",
  );
}

function parseNodeKey(bytes: Uint8Array): Libp2pPublicKey {
  let key: Libp2pPublicKey;
  try {
    if (bytes.length === 0 || bytes.length > MAX_PUBLIC_KEY_BYTES) throw new RangeError("size");
    key = publicKeyFromProtobuf(bytes);
  } catch (error) {
    throw refuse(
      Code.InvalidArgument,
      `The public key is not a libp2p protobuf-encoded key (${bytes.length} bytes; ` +
        `${describeError(error)}): send the node identity's public key as libp2p encodes it.`,
    );
  }
  if (key.type !== "Ed25519") {
    throw refuse(
      Code.InvalidArgument,
      `The public key is a ${key.type} key; p2proxy identities are Ed25519.`,
    );
  }
  return key;
}

async function checkSignature(key: Libp2pPublicKey, request: SignedIssueTokenRequest) {
  let valid = false;
  if (request.signature.length === ED25519_SIGNATURE_BYTES) {
    try {
      valid = await key.verify(issueTokenSigningBytes(request), request.signature);
    } catch {
      valid = false;
    }
  }
  if (valid) return;
  throw refuse(
    Code.Unauthenticated,
    "The request's signature does not verify with the public key it carries: the node must " +
      "sign the request with the identity key whose public half it sends.",
  );
}
