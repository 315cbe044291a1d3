/**
 * The plugin contract and host.
 *
 * @module
 */
export * from "./contract.ts";
export * from "./host.ts";
export * from "./permissions.ts";
