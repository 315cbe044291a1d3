/**
 * A pre-shared token, for small networks that need no auth service
 * (docs/authentication.md#static-token).
 *
 * @module
 */
import { type Authenticator, AuthError } from "../../core/ports/authenticator.ts";

/** The environment variable the token may come from. */
export const TOKEN_ENV_VAR = "P2PROXY_TOKEN";

/**
 * Hands out one fixed token. Without a token every `token()` call rejects
 * with `AuthError` `rejected`, saying where to set one.
 */
export class StaticAuthenticator implements Authenticator {
  readonly #token: string | undefined;

  /**
   * An authenticator handing out `token`.
   *
   * @param token the pre-shared token; undefined or empty means none was configured.
   */
  constructor(token: string | undefined) {
    this.#token = token === "" ? undefined : token;
  }

  /** True when a token is configured. */
  get hasToken(): boolean {
    return this.#token !== undefined;
  }

  /** The token; rejects with `AuthError` `rejected` when none is configured, or with an aborted signal's reason. */
  // deno-lint-ignore require-await
  async token(signal?: AbortSignal): Promise<string> {
    signal?.throwIfAborted();
    if (this.#token === undefined) {
      throw new AuthError(
        "rejected",
        `No pre-shared token is configured for "@p2proxy/auth-static". Set "token" in its plugin ` +
          `options (plugins["@p2proxy/auth-static"].token) or the ${TOKEN_ENV_VAR} environment variable.`,
      );
    }
    return this.#token;
  }
}
