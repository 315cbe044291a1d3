/**
 * Pure wire codecs: SOCKS5 (RFC 1928/1929), SOCKS4/4a, the HTTP/1.1 proxy codec, and the varint length-prefixed
 * frames that carry protobuf messages on libp2p streams.
 *
 * @module
 */
export * from "./socks5.ts";
export * from "./frame.ts";
export * from "./http1.ts";
export * from "./socks4.ts";
export * from "./socks5_udp.ts";
