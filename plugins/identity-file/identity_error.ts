/**
 * Errors of the identity file.
 *
 * @module
 */
import { P2proxyError } from "../../core/errors.ts";

/** Why the identity file could not be used. */
export type IdentityErrorCode =
  /** The file is not a libp2p protobuf private key, or its halves do not match. */
  | "corrupt"
  /** The file exists but could not be read (permissions, a folder in its place…). */
  | "unreadable"
  /** The file holds a valid key of another type (RSA, secp256k1, ECDSA). */
  | "wrong-key-type"
  /** A new identity was asked for where one already exists. */
  | "exists"
  /** A new identity could not be written. */
  | "unwritable";

/** The node identity could not be loaded or created; the message names the file and the fix. */
export class IdentityError extends P2proxyError<IdentityErrorCode> {
  /** The identity file concerned. */
  readonly path: string;

  /** An error about the identity file at `path`. */
  constructor(code: IdentityErrorCode, path: string, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.path = path;
  }
}
