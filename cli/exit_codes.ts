/**
 * Process exit codes (docs/operations.md#exit-codes).
 *
 * @module
 */
import { P2proxyError } from "../core/errors.ts";

/** Everything went fine. */
export const EXIT_OK = 0;
/** A runtime failure: the command was valid but could not do its job. */
export const EXIT_RUNTIME_FAILURE = 1;
/** Bad usage or bad configuration: fix the command line or the config. */
export const EXIT_BAD_USAGE = 2;
/** The second Ctrl-C: stop now, without draining. */
export const EXIT_INTERRUPTED = 130;

/** An error that ends the CLI with a given exit code and a message for the user. */
export class CliExit extends P2proxyError<"exit"> {
  readonly exitCode: number;

  constructor(exitCode: number, message: string, options?: ErrorOptions) {
    super("exit", message, options);
    this.exitCode = exitCode;
  }
}

const BAD_CONFIG_ERRORS = new Set([
  "ConfigError",
  "PluginError",
  "BandwidthError",
  "EgressConfigError",
]);

/** The exit code an error maps to: configuration and plugin errors are usage errors. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof CliExit) return error.exitCode;
  if (error instanceof P2proxyError && BAD_CONFIG_ERRORS.has(error.name)) {
    // A plugin that fails while running is a runtime failure, not bad config.
    return error.code === "start-failed" ? EXIT_RUNTIME_FAILURE : EXIT_BAD_USAGE;
  }
  return EXIT_RUNTIME_FAILURE;
}
