/**
 * Tokens that prove this node may use the network.
 *
 * @module
 */
import { P2proxyError } from "../errors.ts";

/** Supplies the current token. */
export interface Authenticator {
  /** A token valid now; refreshed by the implementation before it expires. */
  token(signal?: AbortSignal): Promise<string>;
}

/** Why no token could be had. */
export type AuthErrorCode =
  /** The service said no (bad API key, wrong role): fix the configuration. */
  | "rejected"
  /** The service could not be reached. */
  | "unavailable"
  /** The token or an answer was malformed. */
  | "malformed"
  /** The token has expired and no fresh one could be had. */
  | "expired";

/** A failed token fetch. */
export class AuthError extends P2proxyError<AuthErrorCode> {}
