/**
 * What the exit's two listeners (quic_server.ts, tls_server.ts) say about an admitted connection:
 * its `ConnectionInfo` for the protocol handlers, and its remote address for logs.
 *
 * @module
 */
import { hostPort } from "../../core/host_port.ts";
import { asMultiaddr, type PeerId } from "../../core/ids.ts";
import type { ConnectionInfo } from "../../core/ports/network.ts";

/**
 * An inbound connection from `peer` (the ticket's) at `remote`, as the core's ConnectionInfo;
 * `transport` is the multiaddr part after the IP (`udp/<port>/quic-v1`, `tcp/<port>/tls`).
 *
 * @example
 * ```ts
 * inboundConnection(conn.remoteAddr, peer, `tcp/${conn.remoteAddr.port}/tls`);
 * ```
 */
export function inboundConnection(
  remote: Deno.NetAddr,
  peer: PeerId,
  transport: string,
): ConnectionInfo {
  const family = remote.hostname.includes(":") ? "ip6" : "ip4";
  return {
    peerId: peer,
    address: asMultiaddr(`/${family}/${remote.hostname}/${transport}/p2p/${peer}`),
    relayed: false,
    direction: "inbound",
  };
}

/** The connection's remote `host:port` for logs, or `(gone)` once it closed. */
export function remoteOf(conn: { readonly remoteAddr: Deno.NetAddr }): string {
  try {
    return hostPort(conn.remoteAddr.hostname, conn.remoteAddr.port);
  } catch {
    return "(gone)";
  }
}
