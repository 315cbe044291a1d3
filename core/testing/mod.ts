/**
 * Test helpers for p2proxy and its plugins: fakes for every port, builders,
 * and a compliance suite per port that a third-party implementation runs
 * against itself to prove it behaves like the built-in ones.
 *
 * @module
 */
export * from "./fakes.ts";
export * from "./builders.ts";
export * from "./fake_identity.ts";
export * from "./memory_duplex.ts";
export * from "./compliance/mod.ts";
