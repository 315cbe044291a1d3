/**
 * Offline token verification for hubs and exits (docs/authentication.md#checking-a-token): the
 * signature against the auth service's public keys (by `kid`, several at once during a rotation),
 * the lifetime with a small clock-skew allowance, the network, the role, and that the peer
 * presenting the token is the peer it was issued to — so a stolen token is useless from any other
 * peer.
 *
 * Keys come from a {@link VerificationKeySource}: fixed ones from the
 * config ({@link StaticKeySet}) or the service's PublicKeys RPC, refreshed
 * periodically ({@link RemoteKeySet}).
 *
 * @example
 * ```ts
 * const keys = new RemoteKeySet({ url: "http://127.0.0.1:8443" });
 * await keys.start();
 * const verifier = new TokenVerifier({ keys, networkId: "acme" });
 * const verdict = await verifier.verify(token, { peerId: remotePeer, role: "proxy" });
 * if (!verdict.ok) console.log(verdict.code, verdict.message);
 * await keys.stop();
 * ```
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { compactVerify, decodeProtectedHeader, type ProtectedHeaderParameters } from "jose";
import { Backoff } from "../core/domain/backoff.ts";
import { describeError } from "../core/errors.ts";
import type { Clock } from "../core/ports/clock.ts";
import { AuthServiceClient, type AuthTransportKind, describeRpcFailure } from "./client.ts";
import {
  KEY_REFRESH_INTERVAL_MS,
  MAX_TOKEN_CHARS,
  MAX_TOKEN_LIFETIME_MS,
  PUBLIC_KEY_ALGORITHM,
  RETRY_FACTOR,
  RETRY_INITIAL_MS,
  RETRY_MAX_MS,
  TOKEN_ALGORITHM,
  TOKEN_CLOCK_SKEW_MS,
  UNKNOWN_KID_REFETCH_MIN_INTERVAL_MS,
} from "./constants.ts";
import { type VerificationKey, verificationKeyFromRaw, verificationKeyFromText } from "./keys.ts";
import { type TokenClaims, tokenClaimsSchema, type TokenRole } from "./token.ts";

const logger = getLogger(["p2proxy", "auth"]);

/** Why a token was rejected. */
export type TokenRejectCode =
  /** No token, or not a JWT of ours. */
  | "malformed"
  /** Longer than any real token. */
  | "too-large"
  /** The verifier has no keys yet (the service has not answered). */
  | "no-keys"
  /** Signed by a key this verifier does not know. */
  | "unknown-key"
  /** The signature does not verify. */
  | "bad-signature"
  | "expired"
  /** Issued in the future, beyond the clock-skew allowance. */
  | "not-yet-valid"
  /** `exp - iat` exceeds the longest lifetime a service may give. */
  | "lifetime-too-long"
  | "wrong-issuer"
  | "wrong-network"
  | "wrong-role"
  /** Presented by a peer other than the one it was issued to. */
  | "wrong-peer";

/** The outcome of a check: the claims, or why not, in words that say what to fix. */
export type TokenVerdict =
  | { readonly ok: true; readonly claims: TokenClaims }
  | { readonly ok: false; readonly code: TokenRejectCode; readonly message: string };

/** What a token must say to be accepted here. */
export interface TokenExpectation {
  /** The libp2p peer id of the peer presenting the token (from the connection, not the token). */
  readonly peerId: string;
  /** The role (or roles) accepted. */
  readonly role: TokenRole | readonly TokenRole[];
}

/** Where a verifier gets its public keys. */
export interface VerificationKeySource {
  /** The key with this id; a remote source may refetch (rate-limited) for an id it does not know. */
  find(kid: string): Promise<VerificationKey | undefined>;
  /** How many keys are known now. */
  readonly size: number;
  /** Why there are no keys, when there are none (for messages). */
  readonly problem?: string;
}

/** Options of a {@link TokenVerifier}. */
export interface TokenVerifierOptions {
  readonly keys: VerificationKeySource;
  /** The network this node belongs to: tokens for another network are rejected. */
  readonly networkId: string;
  /** When set, tokens must carry this `iss`. */
  readonly issuer?: string;
  /** Tolerance on `iat` and `exp` (default 30 s). */
  readonly clockSkewMs?: number;
  /** Milliseconds since the epoch (default `Date.now`). */
  readonly now?: () => number;
}

/** Checks tokens offline. Stateless apart from its key source: share one per process. */
export class TokenVerifier {
  readonly #options: TokenVerifierOptions;
  readonly #now: () => number;
  readonly #skewMs: number;

  /** A verifier with these keys and expectations. */
  constructor(options: TokenVerifierOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#skewMs = options.clockSkewMs ?? TOKEN_CLOCK_SKEW_MS;
  }

  /** Checks `token` as presented by `expected.peerId` for `expected.role`. Never throws. */
  async verify(token: string, expected: TokenExpectation): Promise<TokenVerdict> {
    const shape = checkShape(token);
    if (shape !== undefined) return shape;
    let header: ProtectedHeaderParameters;
    try {
      header = decodeProtectedHeader(token);
    } catch (error) {
      return reject("malformed", `The token is not a JWT (${describeError(error)}).`);
    }
    if (header.alg !== TOKEN_ALGORITHM || typeof header.kid !== "string") {
      return reject(
        "malformed",
        `The token is signed with ${JSON.stringify(header.alg)}${
          typeof header.kid === "string" ? "" : " and names no key (kid)"
        }; p2proxy tokens are EdDSA with a kid: get the token from a p2proxy auth service.`,
      );
    }
    const key = await this.#findKey(header.kid);
    if (!key.ok) return key;
    let payload: Uint8Array;
    try {
      payload = (await compactVerify(token, key.key.publicKey, { algorithms: [TOKEN_ALGORITHM] }))
        .payload;
    } catch {
      return reject(
        "bad-signature",
        `The token's signature does not verify with key ${JSON.stringify(header.kid)}: the token ` +
          "was altered or forged. Nodes must present tokens exactly as the auth service issued them.",
      );
    }
    const claims = parseClaims(payload);
    if (!claims.ok) return claims;
    return this.#checkClaims(claims.claims, expected);
  }

  /**
   * A check for one role in the shape the exit service takes
   * (`(token, peer) => verdict`).
   */
  checkerFor(
    role: TokenRole | readonly TokenRole[],
  ): (token: string, peerId: string) => Promise<TokenVerdict> {
    return (token, peerId) => this.verify(token, { peerId, role });
  }

  async #findKey(
    kid: string,
  ): Promise<{ ok: true; key: VerificationKey } | Extract<TokenVerdict, { ok: false }>> {
    const source = this.#options.keys;
    const key = await source.find(kid);
    if (key !== undefined) return { ok: true, key };
    if (source.size === 0) {
      return reject(
        "no-keys",
        `This node has no token-verification keys yet${
          source.problem ? ` (${source.problem})` : ""
        }: check that the auth service is reachable, or configure its public keys.`,
      );
    }
    return reject(
      "unknown-key",
      `The token was signed by key ${JSON.stringify(kid)}, which this node does not know: the ` +
        "token comes from another auth service, or the service has a new key this node has not " +
        "fetched yet (check the auth service URL or the configured public keys).",
    );
  }

  #checkClaims(claims: TokenClaims, expected: TokenExpectation): TokenVerdict {
    const now = this.#now();
    const issuer = this.#options.issuer;
    if (issuer !== undefined && claims.iss !== issuer) {
      return reject(
        "wrong-issuer",
        `The token was issued by ${JSON.stringify(claims.iss)}, not ${
          JSON.stringify(issuer)
        }: get a token from this network's auth service.`,
      );
    }
    if (claims.net !== this.#options.networkId) {
      return reject(
        "wrong-network",
        `The token is for network ${JSON.stringify(claims.net)}, but this node is in network ${
          JSON.stringify(this.#options.networkId)
        }: use an API key of this network's auth service, or fix network_id.`,
      );
    }
    const timing = this.#checkTiming(claims, now);
    if (timing !== undefined) return timing;
    const roles: readonly TokenRole[] = typeof expected.role === "string"
      ? [expected.role]
      : expected.role;
    if (!roles.includes(claims.role)) {
      return reject(
        "wrong-role",
        `The token is for the ${claims.role} role, but ${
          roles.join(" or ")
        } is required here: the node must ask for a ${
          roles[0]
        } token, with an API key allowed that role.`,
      );
    }
    if (claims.sub !== expected.peerId) {
      return reject(
        "wrong-peer",
        `The token was issued to peer ${claims.sub} but presented by peer ${expected.peerId}: ` +
          "a token is valid only from the peer it was issued to, so every node must fetch its own.",
      );
    }
    return { ok: true, claims };
  }

  #checkTiming(claims: TokenClaims, now: number): TokenVerdict | undefined {
    const iatMs = claims.iat * 1000;
    const expMs = claims.exp * 1000;
    if (expMs <= iatMs || expMs - iatMs > MAX_TOKEN_LIFETIME_MS) {
      return reject(
        "lifetime-too-long",
        `The token's lifetime (${claims.exp - claims.iat} s) is not between 1 s and ${
          MAX_TOKEN_LIFETIME_MS / 1000
        } s: the auth service that issued it is misconfigured.`,
      );
    }
    if (iatMs > now + this.#skewMs) {
      return reject(
        "not-yet-valid",
        `The token was issued ${
          Math.round((iatMs - now) / 1000)
        } s in the future by this node's clock: synchronise the clocks (NTP) of this node and ` +
          "the auth service.",
      );
    }
    if (expMs <= now - this.#skewMs) {
      return reject(
        "expired",
        `The token expired at ${new Date(expMs).toISOString()} (${
          Math.round((now - expMs) / 1000)
        } s ago): the presenting node must refresh its token; check its clock and that it reaches ` +
          "the auth service.",
      );
    }
    return undefined;
  }
}

function reject(code: TokenRejectCode, message: string): Extract<TokenVerdict, { ok: false }> {
  return { ok: false, code, message };
}

function checkShape(token: unknown): TokenVerdict | undefined {
  if (typeof token !== "string" || token.trim() === "") {
    return reject(
      "malformed",
      "No token was presented, and this node requires one: configure auth on the presenting " +
        'node (auth.provider "connect" with an API key).',
    );
  }
  if (token.length > MAX_TOKEN_CHARS) {
    return reject(
      "too-large",
      `The token is ${token.length} characters long; p2proxy tokens are far shorter (at most ` +
        `${MAX_TOKEN_CHARS}).`,
    );
  }
  return undefined;
}

function parseClaims(
  payload: Uint8Array,
): { ok: true; claims: TokenClaims } | Extract<TokenVerdict, { ok: false }> {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return reject("malformed", "The token's payload is not JSON.");
  }
  const parsed = tokenClaimsSchema.safeParse(json);
  if (parsed.success) return { ok: true, claims: parsed.data };
  const fields = [...new Set(parsed.error.issues.map((issue) => issue.path.join(".")))];
  return reject(
    "malformed",
    `The token lacks valid claims (${fields.join(", ")}): it was not issued by a p2proxy auth ` +
      "service.",
  );
}

// ---------------------------------------------------------------------------
// Key sources

/** Keys fixed by configuration. */
export class StaticKeySet implements VerificationKeySource {
  readonly #keys: ReadonlyMap<string, VerificationKey>;

  /** A set of `keys`. */
  constructor(keys: readonly VerificationKey[]) {
    this.#keys = new Map(keys.map((key) => [key.kid, key]));
  }

  /**
   * Keys written in a config: each base64url/base64 of the raw 32-byte
   * Ed25519 key (as `auth serve` logs it), or an SPKI PEM.
   */
  static async fromText(texts: readonly string[]): Promise<StaticKeySet> {
    return new StaticKeySet(await Promise.all(texts.map(verificationKeyFromText)));
  }

  /** How many keys. */
  get size(): number {
    return this.#keys.size;
  }

  /** The key with id `kid`. */
  find(kid: string): Promise<VerificationKey | undefined> {
    return Promise.resolve(this.#keys.get(kid));
  }
}

/** Options of a {@link RemoteKeySet}. */
export interface RemoteKeySetOptions {
  /** The auth service's base URL. */
  readonly url: string;
  readonly transport?: AuthTransportKind;
  readonly timeoutMs?: number;
  /** A PEM CA certificate to trust besides the system's. */
  readonly caCert?: string;
  /** Refetch interval after a success (default 10 min). */
  readonly refreshIntervalMs?: number;
  /** Schedules refetches and retries (the `clock` capability). */
  readonly clock: Clock;
}

/**
 * The service's keys from its PublicKeys RPC, refetched every 10 min, with
 * backoff (1 s ×2 up to 30 s) while the service cannot be reached; the last
 * keys fetched stay in use meanwhile. A token signed by an unknown `kid`
 * triggers an early refetch, at most every 30 s. Call `stop()` to end the
 * timers and connections.
 */
export class RemoteKeySet implements VerificationKeySource {
  readonly #client: AuthServiceClient;
  readonly #clock: Clock;
  readonly #refreshIntervalMs: number;
  readonly #stopper = new AbortController();
  #keys: ReadonlyMap<string, VerificationKey> = new Map();
  #problem: string | undefined = "the keys have not been fetched yet";
  #lastAttemptMs = -Infinity;
  #inFlight: Promise<boolean> | undefined;
  #loop: Promise<void> | undefined;
  #firstSuccess = Promise.withResolvers<void>();

  /** A key set fetched from `options.url`; nothing happens until `start()`. */
  constructor(options: RemoteKeySetOptions) {
    this.#client = new AuthServiceClient({
      url: options.url,
      ...(options.transport ? { transport: options.transport } : {}),
      ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.caCert ? { caCert: options.caCert } : {}),
    });
    this.#clock = options.clock;
    this.#refreshIntervalMs = options.refreshIntervalMs ?? KEY_REFRESH_INTERVAL_MS;
    // Nobody may be waiting on `ready()`; an unhandled rejection would end the process.
    this.#firstSuccess.promise.catch(() => {});
  }

  /** How many keys are known now. */
  get size(): number {
    return this.#keys.size;
  }

  /** Why there are no keys, when there are none. */
  get problem(): string | undefined {
    return this.#keys.size === 0 ? this.#problem : undefined;
  }

  /** The key ids known now. */
  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  /**
   * Fetches the keys once and starts the refresh loop. Resolves after the
   * first attempt whether or not it succeeded (a failure is logged and
   * retried in the background); await `ready()` to wait for keys.
   */
  async start(): Promise<void> {
    if (this.#loop !== undefined) return;
    const fetched = await this.#refetch();
    this.#loop = this.#refreshLoop(fetched);
  }

  /** Resolves once keys have been fetched; rejects when stopped before that. */
  ready(): Promise<void> {
    return this.#firstSuccess.promise;
  }

  /** Stops refreshing and closes the connection. */
  async stop(): Promise<void> {
    this.#stopper.abort(new Error("The key set was stopped."));
    this.#firstSuccess.reject(new Error("The key set was stopped before any key was fetched."));
    await this.#loop;
    await this.#inFlight;
    this.#client.close();
  }

  /** The key with id `kid`; an unknown id triggers a refetch unless one ran in the last 30 s. */
  async find(kid: string): Promise<VerificationKey | undefined> {
    const known = this.#keys.get(kid);
    if (known !== undefined || this.#stopper.signal.aborted) return known;
    const sinceMs = this.#clock.now() - this.#lastAttemptMs;
    if (this.#inFlight === undefined && sinceMs < UNKNOWN_KID_REFETCH_MIN_INTERVAL_MS) {
      return undefined;
    }
    await this.#refetch();
    return this.#keys.get(kid);
  }

  /** One fetch, shared by concurrent callers; true on success. */
  #refetch(): Promise<boolean> {
    this.#inFlight ??= this.#fetchOnce().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #fetchOnce(): Promise<boolean> {
    this.#lastAttemptMs = this.#clock.now();
    try {
      const published = await this.#client.publicKeys(this.#stopper.signal);
      const keys = new Map<string, VerificationKey>();
      for (const entry of published) {
        if (entry.algorithm !== PUBLIC_KEY_ALGORITHM) continue;
        const key = await verificationKeyFromRaw(entry.publicKey);
        // The kid is the key's thumbprint: a service that says otherwise is not trusted for it.
        if (key.kid !== entry.keyId) continue;
        keys.set(key.kid, key);
      }
      if (keys.size === 0) throw new Error("the service published no usable Ed25519 key");
      const changed = [...keys.keys()].join() !== [...this.#keys.keys()].join();
      this.#keys = keys;
      this.#problem = undefined;
      if (changed) {
        logger.info("Token-verification keys from {url}: {kids}.", {
          url: this.#client.url,
          kids: [...keys.keys()].join(", "),
        });
      }
      this.#firstSuccess.resolve();
      return true;
    } catch (error) {
      if (this.#stopper.signal.aborted) return false;
      const failure = describeRpcFailure(error);
      this.#problem = `the auth service at ${this.#client.url} did not give its keys: ` +
        failure.message;
      logger.warn("Could not fetch token-verification keys from {url} ({code}: {message}).", {
        url: this.#client.url,
        code: failure.code,
        message: failure.message,
      });
      return false;
    }
  }

  async #refreshLoop(lastSucceeded: boolean): Promise<void> {
    const backoff = new Backoff(RETRY_INITIAL_MS, RETRY_FACTOR, RETRY_MAX_MS);
    let succeeded = lastSucceeded;
    while (!this.#stopper.signal.aborted) {
      if (succeeded) backoff.reset();
      const delayMs = succeeded ? this.#refreshIntervalMs : backoff.next();
      try {
        await this.#clock.sleep(delayMs, this.#stopper.signal);
      } catch {
        return;
      }
      succeeded = await this.#refetch();
    }
  }
}

// ---------------------------------------------------------------------------
// Assembly

/** What a hub or an exit configures to verify tokens. */
export interface TokenVerifierSettings {
  /** The network this node belongs to. */
  readonly networkId: string;
  /** Fixed public keys (base64url/base64 raw Ed25519, or SPKI PEM); when set, `url` is not asked. */
  readonly publicKeys?: readonly string[];
  /** The auth service to fetch keys from (its PublicKeys RPC). */
  readonly url?: string;
  readonly transport?: AuthTransportKind;
  /** A PEM CA certificate to trust besides the system's. */
  readonly caCert?: string;
  /** When set, tokens must carry this `iss`. */
  readonly issuer?: string;
  /** Refetch interval of remote keys (default 10 min). */
  readonly refreshIntervalMs?: number;
  /** The time tokens are checked against, and the key refetch schedule (the `clock` capability). */
  readonly clock: Clock;
}

/** A verifier and the lifecycle of its key source. */
export interface ManagedTokenVerifier {
  readonly verifier: TokenVerifier;
  readonly keys: VerificationKeySource;
  /** Fetches remote keys once (see {@link RemoteKeySet.start}); nothing for static keys. */
  start(): Promise<void>;
  /** Ends the refresh timer and connections. */
  stop(): Promise<void>;
}

/**
 * Builds a verifier from settings: static keys when `publicKeys` is given,
 * otherwise keys fetched from `url`. Throws a TypeError when neither is set
 * or a static key cannot be read.
 */
export async function createTokenVerifier(
  settings: TokenVerifierSettings,
): Promise<ManagedTokenVerifier> {
  const common = {
    networkId: settings.networkId,
    ...(settings.issuer === undefined ? {} : { issuer: settings.issuer }),
    now: () => settings.clock.now(),
  };
  if (settings.publicKeys !== undefined && settings.publicKeys.length > 0) {
    const keys = await StaticKeySet.fromText(settings.publicKeys);
    return {
      verifier: new TokenVerifier({ keys, ...common }),
      keys,
      start: () => Promise.resolve(),
      stop: () => Promise.resolve(),
    };
  }
  if (settings.url === undefined) {
    throw new TypeError(
      "Token verification needs the auth service's URL (to fetch its public keys) or its " +
        "public keys: set one of them.",
    );
  }
  const keys = new RemoteKeySet({
    url: settings.url,
    ...(settings.transport === undefined ? {} : { transport: settings.transport }),
    ...(settings.caCert === undefined ? {} : { caCert: settings.caCert }),
    ...(settings.refreshIntervalMs === undefined
      ? {}
      : { refreshIntervalMs: settings.refreshIntervalMs }),
    clock: settings.clock,
  });
  return {
    verifier: new TokenVerifier({ keys, ...common }),
    keys,
    start: () => keys.start(),
    stop: () => keys.stop(),
  };
}
