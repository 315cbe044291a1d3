/**
 * The version of p2proxy, from deno.json so there is one place to bump it.
 *
 * @module
 */
import manifest from "../deno.json" with { type: "json" };

/** The package version, e.g. `0.1.0`. */
export const VERSION: string = manifest.version;
