/**
 * The pure core of p2proxy: ports, domain decisions, codecs, config,
 * events and the plugin contract. No I/O happens here.
 *
 * @module
 */
export * from "./errors.ts";
export * from "./constant_time.ts";
export * from "./host_port.ts";
export * from "./local_http_guard.ts";
export * from "./ids.ts";
export * from "./events.ts";
export * from "./ports/mod.ts";
export * from "./plugin/mod.ts";
export * from "./codec/mod.ts";
export * from "./domain/attributes.ts";
export * from "./domain/server.ts";
export * from "./domain/username.ts";
export * from "./domain/client_auth.ts";
export * from "./domain/bandwidth.ts";
export * from "./domain/country.ts";
export * from "./domain/filters.ts";
export * from "./domain/fingerprint.ts";
export * from "./domain/egress_policy.ts";
export * from "./domain/backoff.ts";
export * from "./domain/circuit.ts";
export * from "./domain/sticky_state.ts";
export * from "./domain/single_flight.ts";
export * from "./domain/connect.ts";
export * from "./domain/manual_choice.ts";
export * from "./domain/verified_location.ts";
// Named by `CoreErrorCode`; the registry rules themselves are the hub's business.
export type { RegistryErrorCode } from "./domain/registry.ts";
export * from "./config/mod.ts";
// Named by `AuthSettings["transport"]`; exported here so the public type's parts are public too.
export { AUTH_SERVICE_TRANSPORTS } from "./config/common.ts";
