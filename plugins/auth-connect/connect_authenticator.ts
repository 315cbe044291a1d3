/**
 * Tokens from the auth service (docs/authentication.md#getting-a-token): the node proves its API
 * key and its identity to `AuthService.IssueToken` and keeps the token it gets fresh — refreshed at
 * 80 % of its lifetime (the anchor never refreshes), retried with backoff while the service is
 * down, and served until it expires.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { Backoff } from "../../core/domain/backoff.ts";
import { describeError, P2proxyError } from "../../core/errors.ts";
import { type Authenticator, AuthError } from "../../core/ports/authenticator.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { Identity } from "../../core/ports/identity.ts";
import {
  AuthServiceClient,
  type AuthTransportKind,
  describeRpcFailure,
  type RpcFailure,
  type RpcFailureKind,
} from "../../auth/client.ts";
import {
  DEFAULT_REFRESH_AT,
  DEFAULT_RPC_TIMEOUT_MS,
  RETRY_FACTOR,
  RETRY_INITIAL_MS,
  RETRY_MAX_MS,
} from "../../auth/constants.ts";
import { signIssueTokenRequest } from "../../auth/issue_request.ts";
import { readUnverifiedClaims, type TokenRole } from "../../auth/token.ts";

const logger = getLogger(["p2proxy", "auth-connect"]);

/** What a {@link ConnectAuthenticator} needs. */
export interface ConnectAuthenticatorOptions {
  /** Base URL of the auth service (its gRPC port for the `grpc` transport). */
  readonly url: string;
  readonly transport?: AuthTransportKind;
  readonly apiKey: string;
  /** Where the key came from, for messages: `the config (api_key)`, `P2PROXY_API_KEY`. */
  readonly apiKeySource: string;
  readonly role: TokenRole;
  /** Fraction of a token's lifetime after which it is refreshed (default 0.8). */
  readonly refreshAt?: number;
  /** Deadline of one IssueToken call (default 10 s). */
  readonly timeoutMs?: number;
  /** A PEM CA certificate to trust besides the system's. */
  readonly caCert?: string;
  readonly identity: Identity;
  readonly clock: Clock;
}

/** A token held, in local time. */
interface HeldToken {
  readonly token: string;
  /** When it stops being valid, by this node's clock. */
  readonly expiresAtMs: number;
  /** When to fetch its successor. */
  readonly refreshAtMs: number;
}

/** An IssueToken call that failed: `refused` by the service, or `unreachable`. */
class FetchFailure extends P2proxyError<RpcFailureKind> {
  readonly failure: RpcFailure;

  constructor(failure: RpcFailure, options?: ErrorOptions) {
    super(failure.kind, failure.message, options);
    this.failure = failure;
  }
}

/**
 * An `Authenticator` backed by `p2proxy.auth.v1.AuthService`. `start()`
 * gets the first token; `stop()` ends the refresh loop and closes the
 * connection. The API key is never logged and never shown by inspection.
 */
export class ConnectAuthenticator implements Authenticator {
  readonly #options: ConnectAuthenticatorOptions;
  readonly #client: AuthServiceClient;
  readonly #stopper = new AbortController();
  readonly #refreshAt: number;
  #held: HeldToken | undefined;
  #lastFailure: string | undefined;
  #loop: Promise<void> | undefined;
  #started: Promise<void> | undefined;

  /** An authenticator for `options`; nothing is contacted until `start()`. */
  constructor(options: ConnectAuthenticatorOptions) {
    this.#options = options;
    this.#refreshAt = options.refreshAt ?? DEFAULT_REFRESH_AT;
    this.#client = new AuthServiceClient({
      url: options.url,
      transport: options.transport ?? "connect",
      timeoutMs: options.timeoutMs ?? DEFAULT_RPC_TIMEOUT_MS,
      ...(options.caCert === undefined ? {} : { caCert: options.caCert }),
    });
  }

  /** When the current token expires by this node's clock; undefined before the first one. */
  get expiresAtMs(): number | undefined {
    return this.#held?.expiresAtMs;
  }

  /**
   * Gets the first token, retrying with backoff (1 s ×2 up to 30 s) while
   * the service cannot be reached, then keeps it fresh in the background.
   * Rejects with `AuthError` `rejected` when the service refuses the key (a
   * definitive answer: fix the configuration), or `unavailable` when
   * stopped before a token was had.
   */
  start(): Promise<void> {
    this.#started ??= this.#firstToken();
    return this.#started;
  }

  async #firstToken(): Promise<void> {
    const backoff = new Backoff(RETRY_INITIAL_MS, RETRY_FACTOR, RETRY_MAX_MS);
    for (;;) {
      try {
        await this.#fetch();
        break;
      } catch (error) {
        if (this.#stopper.signal.aborted) throw this.#stoppedError(error);
        if (isRefusal(error)) throw this.#refusedError(error);
        const delayMs = backoff.next();
        logger.warn(
          "No token yet from the auth service at {url} ({reason}); retrying in {delay} s.",
          {
            url: this.#options.url,
            reason: this.#lastFailure,
            delay: delayMs / 1000,
          },
        );
        try {
          await this.#options.clock.sleep(delayMs, this.#stopper.signal);
        } catch (stopped) {
          throw this.#stoppedError(stopped);
        }
      }
    }
    this.#loop = this.#refreshLoop();
  }

  /** Ends the refresh loop and closes the connection. The current token is forgotten. */
  async stop(): Promise<void> {
    this.#stopper.abort(new AuthError("unavailable", "The authenticator was stopped."));
    await this.#loop;
    this.#client.close();
    this.#held = undefined;
  }

  /**
   * The current token. Rejects with `AuthError` `expired` when it has
   * expired and no fresh one could be had, `unavailable` before the first
   * one, or with the signal's reason when `signal` is aborted.
   */
  // deno-lint-ignore require-await
  async token(signal?: AbortSignal): Promise<string> {
    signal?.throwIfAborted();
    const held = this.#held;
    if (held !== undefined && this.#options.clock.now() < held.expiresAtMs) return held.token;
    if (held === undefined) {
      throw new AuthError(
        "unavailable",
        `No token from the auth service at ${this.#options.url} yet${
          this.#lastFailure ? ` (${this.#lastFailure})` : ""
        }: the authenticator must be started, and the service reachable.`,
      );
    }
    throw new AuthError(
      "expired",
      `The token expired at ${new Date(held.expiresAtMs).toISOString()} and no fresh one came ` +
        `from the auth service at ${this.#options.url} (${this.#lastFailure ?? "no answer"}).`,
    );
  }

  /** One IssueToken call; on success the new token replaces the held one. */
  async #fetch(): Promise<void> {
    const { identity, clock, apiKey, role } = this.#options;
    const startedAtMs = clock.now();
    let token: string;
    try {
      const request = await signIssueTokenRequest(identity, {
        apiKey,
        role,
        timestampMs: startedAtMs,
      });
      ({ token } = await this.#client.issueToken(request, this.#stopper.signal));
    } catch (error) {
      const failure = describeRpcFailure(error);
      this.#lastFailure = `${failure.code}: ${failure.message}`;
      throw new FetchFailure(failure, { cause: error });
    }
    const claims = readUnverifiedClaims(token);
    if (claims === undefined || claims.sub !== identity.peerId || claims.role !== role) {
      this.#lastFailure = "the service answered with a token that is not for this node and role";
      throw new FetchFailure({
        kind: "unreachable",
        code: "malformed",
        message: this.#lastFailure,
      });
    }
    // Lifetime from the token, timed by our clock: immune to an offset between the two clocks.
    const lifetimeMs = Math.max(0, claims.exp - claims.iat) * 1000;
    this.#held = {
      token,
      expiresAtMs: startedAtMs + lifetimeMs,
      refreshAtMs: startedAtMs + lifetimeMs * this.#refreshAt,
    };
    this.#lastFailure = undefined;
    logger.debug("Got a {role} token for {peerId}, valid for {lifetime} s.", {
      role,
      peerId: identity.peerId,
      lifetime: lifetimeMs / 1000,
    });
  }

  /** Refreshes before expiry, forever; a failed refresh is retried with backoff. Never rejects. */
  async #refreshLoop(): Promise<void> {
    const { clock } = this.#options;
    const backoff = new Backoff(RETRY_INITIAL_MS, RETRY_FACTOR, RETRY_MAX_MS);
    let delayMs = this.#untilRefreshMs();
    while (!this.#stopper.signal.aborted) {
      try {
        await clock.sleep(delayMs, this.#stopper.signal);
        await this.#fetch();
        backoff.reset();
        delayMs = this.#untilRefreshMs();
      } catch (error) {
        if (this.#stopper.signal.aborted) return;
        delayMs = backoff.next();
        this.#logRefreshFailure(error, delayMs);
      }
    }
  }

  #untilRefreshMs(): number {
    const held = this.#held;
    return held === undefined ? 0 : Math.max(0, held.refreshAtMs - this.#options.clock.now());
  }

  #logRefreshFailure(error: unknown, delayMs: number): void {
    const held = this.#held;
    const validity = held === undefined || this.#options.clock.now() >= held.expiresAtMs
      ? "no valid token is left"
      : `the current token stays in use until ${new Date(held.expiresAtMs).toISOString()}`;
    const reason = error instanceof FetchFailure ? this.#lastFailure : describeError(error);
    const message = isRefusal(error)
      ? "The auth service at {url} now refuses the API key from {source} ({reason}); {validity}. " +
        "Retrying in {delay} s."
      : "Could not refresh the token from the auth service at {url} ({reason}); {validity}. " +
        "Retrying in {delay} s.";
    const properties = {
      url: this.#options.url,
      source: this.#options.apiKeySource,
      reason,
      validity,
      delay: delayMs / 1000,
    };
    if (isRefusal(error)) logger.error(message, properties);
    else logger.warn(message, properties);
  }

  #refusedError(error: FetchFailure): AuthError {
    return new AuthError(
      "rejected",
      `The auth service at ${this.#options.url} refused the ${this.#options.role} token request ` +
        `made with the API key from ${this.#options.apiKeySource} (${error.failure.code}: ` +
        `${error.failure.message})`,
      { cause: error },
    );
  }

  #stoppedError(cause: unknown): AuthError {
    return new AuthError(
      "unavailable",
      `The authenticator was stopped before the auth service at ${this.#options.url} issued a ` +
        "token.",
      { cause },
    );
  }
}

function isRefusal(error: unknown): error is FetchFailure {
  return error instanceof FetchFailure && error.code === "refused";
}
