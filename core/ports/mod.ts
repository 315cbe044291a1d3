/**
 * The ports: interfaces the core owns and plugins implement.
 *
 * @module
 */
export * from "./authenticator.ts";
export * from "./clock.ts";
export * from "./dialer.ts";
export * from "./event_sink.ts";
export * from "./exit_control.ts";
export * from "./http_routes.ts";
export * from "./identity.ts";
export * from "./inbound.ts";
export * from "./network.ts";
export * from "./operator_console.ts";
export * from "./peer_directory.ts";
export * from "./quota_store.ts";
export * from "./registry_store.ts";
export * from "./relay_server.ts";
export * from "./resolver.ts";
export * from "./geoip.ts";
export * from "./sticky_store.ts";
export * from "./stream_opener.ts";
