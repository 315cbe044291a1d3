/**
 * Pure wire codecs: SOCKS5 (RFC 1928/1929) and the varint length-prefixed
 * frames that carry protobuf messages on libp2p streams.
 *
 * @module
 */
export * from "./socks5.ts";
export * from "./frame.ts";
export * from "./socks5_udp.ts";
