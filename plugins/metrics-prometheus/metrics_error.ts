/**
 * Errors of the metrics endpoint.
 *
 * @module
 */
import { P2proxyError } from "../../core/errors.ts";

/** Why the metrics endpoint could not be set up. */
export type MetricsErrorCode =
  /** `bind` is not an IP address. */
  | "bad-bind"
  /** `bind` is not a loopback address and remote access was not allowed. */
  | "remote-bind"
  /** `port` is not an integer in 0–65535. */
  | "bad-port"
  /** The socket could not be opened (port in use, no permission…). */
  | "listen-failed";

/** The metrics endpoint was refused or could not listen; the message says what to change. */
export class MetricsError extends P2proxyError<MetricsErrorCode> {}
