/**
 * The SOCKS5 UDP request header (RFC 1928 §7), pure: every datagram between a client and the
 * proxy's UDP relay starts with RSV (2 bytes), FRAG (1), ATYP, DST.ADDR, DST.PORT, then DATA.
 * Toward the relay DST names the destination; from the relay it names the source of a reply.
 *
 * A datagram is parsed whole (UDP delivers whole datagrams), so there is no "need more": a
 * datagram that ends inside its header is malformed. RSV is ignored, as in requests; FRAG is
 * reported, and refusing fragments (FRAG ≠ 0) is the relay's decision
 * (docs/proxy-behaviour.md#udp-associate).
 *
 * @example
 * ```ts
 * const datagram = parseUdpDatagram(received);
 * if (datagram.frag === 0) forward(datagram.host, datagram.port, datagram.data);
 * const reply = encodeUdpDatagram({ host: "127.0.0.1", port: 53, data: answer });
 * ```
 *
 * @module
 */
import {
  encodeAddressAndPort,
  MAX_FIELD_BYTES,
  parseAddress,
  type Socks5AddressType,
  Socks5Error,
} from "./socks5.ts";

/** RSV (2 bytes) and FRAG (1) before ATYP. */
const UDP_PREFIX_BYTES = 3;

/** The shortest header: the prefix, ATYP, a one-byte domain with its length, and the port. */
export const MIN_UDP_HEADER_BYTES: number = UDP_PREFIX_BYTES + 1 + 1 + 1 + 2;

/** The longest header: the prefix, ATYP, a 255-byte domain with its length, and the port. */
export const MAX_UDP_HEADER_BYTES: number = UDP_PREFIX_BYTES + 1 + 1 + MAX_FIELD_BYTES + 2;

/** One datagram between a SOCKS5 client and the relay. */
export interface Socks5UdpDatagram {
  /** FRAG: 0 for a whole datagram; anything else is a fragment (which p2proxy drops). */
  readonly frag: number;
  /** DST.ADDR: an IPv4 or IPv6 literal (RFC 5952, no brackets) or a domain, unresolved. */
  readonly host: string;
  /** DST.PORT, 0..65535 (0 is passed through; the exit's policy refuses it). */
  readonly port: number;
  /** Which ATYP carried the host. */
  readonly addressType: Socks5AddressType;
  /** DATA: the payload, a view into the parsed buffer (no copy). */
  readonly data: Uint8Array;
}

/** What {@link encodeUdpDatagram} writes. */
export interface Socks5UdpDatagramInit {
  /** An IPv4 or IPv6 literal (brackets optional) or a domain. */
  readonly host: string;
  /** 0..65535. */
  readonly port: number;
  /** The payload. */
  readonly data: Uint8Array;
  /** FRAG; default 0 (tests send others). */
  readonly frag?: number;
}

/**
 * Parses one datagram. Throws {@link Socks5Error}: `malformed` when it ends inside its header,
 * `bad-address-type` for an ATYP other than 1, 3 or 4, `bad-domain` for an empty, non-UTF-8 or
 * control-character domain.
 */
export function parseUdpDatagram(buf: Uint8Array): Socks5UdpDatagram {
  const result = buf.length > UDP_PREFIX_BYTES
    ? parseAddress(buf, UDP_PREFIX_BYTES)
    : { kind: "need-more" as const, min: MIN_UDP_HEADER_BYTES };
  if (result.kind === "need-more") {
    throw new Socks5Error(
      "malformed",
      `SOCKS UDP datagram of ${buf.length} bytes ends inside its header: RFC 1928 §7 puts ` +
        `RSV, FRAG, ATYP, DST.ADDR and DST.PORT first (at least ${MIN_UDP_HEADER_BYTES} bytes); ` +
        "the client does not speak SOCKS5 UDP.",
    );
  }
  const { host, port, addressType } = result.value;
  return {
    frag: buf[2]!,
    host,
    port,
    addressType,
    data: buf.subarray(UDP_PREFIX_BYTES + result.consumed),
  };
}

/** A datagram with its header; the address type follows the host's form. */
export function encodeUdpDatagram(datagram: Socks5UdpDatagramInit): Uint8Array {
  const frag = datagram.frag ?? 0;
  if (!Number.isInteger(frag) || frag < 0 || frag > 0xff) {
    throw new Socks5Error("malformed", `SOCKS UDP FRAG ${frag} is not a byte (0..255).`);
  }
  const address = encodeAddressAndPort(datagram);
  const out = new Uint8Array(UDP_PREFIX_BYTES + address.length + datagram.data.length);
  out[2] = frag;
  out.set(address, UDP_PREFIX_BYTES);
  out.set(datagram.data, UDP_PREFIX_BYTES + address.length);
  return out;
}
