/**
 * The exit's egress policy (docs/exit-behaviour.md#egress-policy): which resolved addresses and
 * ports an exit may connect to on a proxy's behalf. Security-critical: the exit checks **every**
 * address a destination resolved to and dials only addresses that passed, so a name cannot smuggle
 * an internal address past the check (DNS rebinding).
 *
 * Rules, in order:
 * 1. The address must be an IP literal in canonical form: dotted-quad IPv4
 *    without leading zeros, or RFC 4291 IPv6 text (no brackets, no zone id).
 *    Anything else — host names, `0x7f.1`, `0177.0.0.1`, `127.1`,
 *    `2130706433`, `fe80::1%eth0` — is `invalid-address`, because operating
 *    systems read those legacy forms in ways a policy must not guess at.
 * 2. IPv6 addresses that carry an IPv4 address (IPv4-mapped, IPv4-translated,
 *    NAT64, local-use NAT64, 6to4) are also judged by that IPv4 address, with
 *    the IPv4 CIDR lists and ranges; see {@link IPV4_EMBEDDING_PREFIXES}.
 * 3. `denyCidrs` always wins (`denied-cidr`).
 * 4. An address in a {@link DEFAULT_DENIED_RANGES} range is `denied-range`
 *    unless `allowCidrs` covers it.
 * 5. The port must be an integer in 1..65535 (`invalid-port`), must not be in
 *    `denyPorts` (default `[25]`), and, when `allowPorts` is non-empty, must be
 *    in it (`denied-port`). `denyPorts` beats `allowPorts`.
 *
 * @example
 * ```ts
 * const policy = createEgressPolicy({ allowCidrs: ["127.0.0.1/32"] });
 * policy.check("127.0.0.1", 8080); // { allowed: true }
 * policy.check("10.0.0.1", 80); // { allowed: false, reason: "denied-range", ... }
 * ```
 *
 * @module
 */
import ipaddr from "ipaddr.js";
import { P2proxyError } from "../errors.ts";

/** Operator choices that extend or narrow the default policy (config keys `allow_cidrs`, …). */
export interface EgressPolicyConfig {
  /** Networks allowed even when inside a default-denied range. */
  readonly allowCidrs?: readonly string[];
  /** Networks always denied; beats `allowCidrs`. */
  readonly denyCidrs?: readonly string[];
  /** When non-empty, only these destination ports are allowed. */
  readonly allowPorts?: readonly number[];
  /** Destination ports always denied; defaults to {@link DEFAULT_DENY_PORTS}. Beats `allowPorts`. */
  readonly denyPorts?: readonly number[];
}

/** Why the policy refused a destination. */
export type EgressDenyReason =
  | "denied-range"
  | "denied-cidr"
  | "denied-port"
  | "invalid-address"
  | "invalid-port"
  | "no-addresses";

/** The policy's answer; `detail` is one sentence for logs and for the proxy's user. */
export type EgressVerdict =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly reason: EgressDenyReason; readonly detail: string };

/** The answer for a whole resolution: when allowed, the addresses to dial, in input order. */
export type EgressBatchVerdict =
  | { readonly allowed: true; readonly addresses: readonly string[] }
  | { readonly allowed: false; readonly reason: EgressDenyReason; readonly detail: string };

/** A configured egress policy. Pure and stateless: safe to share across sessions. */
export interface EgressPolicy {
  /** One resolved address (IPv4 or IPv6 literal, no brackets) and destination port. */
  check(address: string, port: number): EgressVerdict;
  /**
   * Every address a name resolved to. Denied if ANY address is denied, or if
   * the list is empty: the exit must not be steered to an internal address by
   * a name that also resolves to a public one (DNS-rebinding guard).
   */
  checkAll(addresses: readonly string[], port: number): EgressBatchVerdict;
}

/** Machine-readable causes of an {@link EgressConfigError}. */
export type EgressConfigErrorCode = "invalid-cidr" | "invalid-port";

/** A bad value in the egress policy's configuration; `field` and `index` locate it. */
export class EgressConfigError extends P2proxyError<EgressConfigErrorCode> {
  /** The config field holding the bad value. */
  readonly field: keyof EgressPolicyConfig;
  /** Position of the bad value in that list. */
  readonly index: number;

  /** A bad value at `field[index]`; `message` quotes it and says what to write instead. */
  constructor(
    code: EgressConfigErrorCode,
    field: keyof EgressPolicyConfig,
    index: number,
    message: string,
  ) {
    super(code, message);
    this.field = field;
    this.index = index;
  }
}

/** A network and the reason it is special. */
export interface NamedRange {
  /** The network in CIDR notation, e.g. `10.0.0.0/8`. */
  readonly cidr: string;
  /** Why it is special, e.g. `private (RFC 1918)`; quoted in denials. */
  readonly name: string;
}

/**
 * Ranges denied unless `allowCidrs` covers them, from the IANA IPv4 and IPv6
 * special-purpose address registries. A denial names the most specific match.
 */
export const DEFAULT_DENIED_RANGES: readonly NamedRange[] = Object.freeze([
  { cidr: "0.0.0.0/8", name: "this network, incl. unspecified 0.0.0.0 (RFC 791)" },
  { cidr: "10.0.0.0/8", name: "private (RFC 1918)" },
  { cidr: "100.64.0.0/10", name: "shared address space, CGNAT (RFC 6598)" },
  { cidr: "127.0.0.0/8", name: "loopback (RFC 1122)" },
  {
    cidr: "169.254.0.0/16",
    name: "link-local, incl. cloud metadata 169.254.169.254 (RFC 3927)",
  },
  { cidr: "172.16.0.0/12", name: "private (RFC 1918)" },
  { cidr: "192.0.0.0/24", name: "IETF protocol assignments (RFC 6890)" },
  { cidr: "192.0.2.0/24", name: "documentation, TEST-NET-1 (RFC 5737)" },
  { cidr: "192.168.0.0/16", name: "private (RFC 1918)" },
  { cidr: "198.18.0.0/15", name: "benchmarking (RFC 2544)" },
  { cidr: "198.51.100.0/24", name: "documentation, TEST-NET-2 (RFC 5737)" },
  { cidr: "203.0.113.0/24", name: "documentation, TEST-NET-3 (RFC 5737)" },
  { cidr: "224.0.0.0/4", name: "multicast (RFC 5771)" },
  { cidr: "240.0.0.0/4", name: "reserved (RFC 1112)" },
  { cidr: "255.255.255.255/32", name: "limited broadcast (RFC 919)" },
  { cidr: "::/128", name: "unspecified (RFC 4291)" },
  { cidr: "::1/128", name: "loopback (RFC 4291)" },
  { cidr: "::/96", name: "IPv4-compatible, deprecated (RFC 4291)" },
  { cidr: "100::/64", name: "discard-only (RFC 6666)" },
  {
    cidr: "2001::/23",
    name: "IETF protocol assignments, incl. Teredo 2001::/32 (RFC 2928, RFC 4380)",
  },
  { cidr: "2001:db8::/32", name: "documentation (RFC 3849)" },
  { cidr: "3fff::/20", name: "documentation (RFC 9637)" },
  { cidr: "5f00::/16", name: "segment routing SIDs (RFC 9602)" },
  { cidr: "fc00::/7", name: "unique local (RFC 4193)" },
  { cidr: "fe80::/10", name: "link-local (RFC 4291)" },
  { cidr: "fec0::/10", name: "site-local, deprecated (RFC 3879)" },
  { cidr: "ff00::/8", name: "multicast (RFC 4291)" },
].map((range) => Object.freeze(range)));

/** SMTP: open proxies are abused for spam first. */
export const DEFAULT_DENY_PORTS: readonly number[] = Object.freeze([25]);

/** Where in 16 IPv6 bytes an embedded IPv4 address sits. */
type EmbeddingLayout = readonly number[];

/** The last 32 bits: the layout of mapped, translated and /96 NAT64 addresses. */
const LAYOUT_LAST_32_BITS: EmbeddingLayout = [12, 13, 14, 15];

interface EmbeddingPrefix extends NamedRange {
  /** One layout per reading; an address is judged by every reading. */
  readonly layouts: readonly EmbeddingLayout[];
}

/**
 * IPv6 prefixes whose addresses carry an IPv4 address that decides where a
 * packet really goes; such an address is judged by that IPv4 address too.
 *
 * The local-use NAT64 prefix (RFC 8215) lets the operator choose a prefix
 * length of /48, /56, /64 or /96, which the exit cannot know, so its
 * addresses are read in all four RFC 6052 layouts and denied if any reading
 * is denied. Teredo is not listed: all of 2001::/23 is denied outright.
 */
const EMBEDDING_PREFIXES: readonly EmbeddingPrefix[] = [
  { cidr: "::ffff:0:0/96", name: "IPv4-mapped (RFC 4291)", layouts: [LAYOUT_LAST_32_BITS] },
  { cidr: "::ffff:0:0:0/96", name: "IPv4-translated (RFC 6145)", layouts: [LAYOUT_LAST_32_BITS] },
  {
    cidr: "64:ff9b::/96",
    name: "NAT64 well-known prefix (RFC 6052)",
    layouts: [LAYOUT_LAST_32_BITS],
  },
  {
    cidr: "64:ff9b:1::/48",
    name: "local-use NAT64 (RFC 8215)",
    // RFC 6052 §2.2: byte 8 (bits 64..71) is always skipped.
    layouts: [LAYOUT_LAST_32_BITS, [6, 7, 9, 10], [7, 9, 10, 11], [9, 10, 11, 12]],
  },
  { cidr: "2002::/16", name: "6to4 (RFC 3056)", layouts: [[2, 3, 4, 5]] },
];

/**
 * IPv6 prefixes whose addresses are also judged by the IPv4 address they
 * carry (IPv4-mapped, IPv4-translated, NAT64, local-use NAT64 read in every
 * RFC 6052 layout, 6to4). Listed for documentation; the policy applies them.
 */
export const IPV4_EMBEDDING_PREFIXES: readonly NamedRange[] = Object.freeze(
  EMBEDDING_PREFIXES.map(({ cidr, name }) => Object.freeze({ cidr, name })),
);

/** Longest IPv6 text form, `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`; longer input is rejected unread. */
const MAX_IP_LITERAL_CHARS = 45;

/** Invalid input is echoed in details; this bounds how much (a log line, not a dump). */
const MAX_ECHOED_INPUT_CHARS = 64;

const PORT_MIN = 1;
const PORT_MAX = 65_535;

/** One decimal octet with no leading zero: leading zeros mean octal to some resolvers. */
const OCTET_PATTERN = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
const CANONICAL_IPV4 = new RegExp(`^${OCTET_PATTERN}(?:\\.${OCTET_PATTERN}){3}$`);
const IPV6_GROUP = /^[0-9A-Fa-f]{1,4}$/;
const IPV6_ALPHABET = /^[0-9A-Fa-f:.]+$/;
const PREFIX_LENGTH = /^(?:0|[1-9][0-9]{0,2})$/;

type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

interface Cidr {
  /** As the operator wrote it (or as the constant lists it). */
  readonly text: string;
  readonly network: IpAddress;
  readonly prefixLength: number;
}

interface DeniedRange extends Cidr {
  readonly name: string;
}

interface Embedding extends Cidr {
  readonly name: string;
  readonly layouts: readonly EmbeddingLayout[];
}

/** An address the policy judges: the literal itself, or an IPv4 address carried inside it. */
interface Subject {
  readonly address: IpAddress;
  /** Set when the subject was read out of an IPv6 literal. */
  readonly via?: Embedding;
}

/**
 * Whether `text` is an IP literal in the canonical form the policy accepts:
 * dotted-quad IPv4 without leading zeros, or IPv6 text without brackets or
 * zone id. The exit uses it to tell literals from names to resolve.
 */
export function isIpAddressLiteral(text: string): boolean {
  return parseIpLiteral(text) !== undefined;
}

/**
 * Builds a policy from operator config; throws {@link EgressConfigError}
 * naming the first bad CIDR or port.
 */
export function createEgressPolicy(config: EgressPolicyConfig = {}): EgressPolicy {
  const allowCidrs = parseCidrList(config.allowCidrs ?? [], "allowCidrs");
  const denyCidrs = parseCidrList(config.denyCidrs ?? [], "denyCidrs");
  const allowPorts = new Set(parsePortList(config.allowPorts ?? [], "allowPorts"));
  const denyPorts = new Set(parsePortList(config.denyPorts ?? DEFAULT_DENY_PORTS, "denyPorts"));

  function check(address: string, port: number): EgressVerdict {
    const addressVerdict = checkAddress(address, allowCidrs, denyCidrs);
    if (!addressVerdict.allowed) return addressVerdict;
    return checkPort(port, allowPorts, denyPorts);
  }

  function checkAll(addresses: readonly string[], port: number): EgressBatchVerdict {
    if (addresses.length === 0) {
      return deny("no-addresses", "The destination resolved to no addresses.");
    }
    for (const address of addresses) {
      const verdict = check(address, port);
      if (!verdict.allowed) return verdict;
    }
    return { allowed: true, addresses: [...addresses] };
  }

  return Object.freeze({ check, checkAll });
}

function checkAddress(
  text: string,
  allowCidrs: readonly Cidr[],
  denyCidrs: readonly Cidr[],
): EgressVerdict {
  const literal = parseIpLiteral(text);
  if (literal === undefined) {
    return deny(
      "invalid-address",
      `${quote(text)} is not an IP address literal (canonical dotted-quad IPv4 or IPv6).`,
    );
  }
  const subjects = subjectsOf(literal);
  for (const subject of subjects) {
    const denied = firstCovering(denyCidrs, subject.address);
    if (denied !== undefined) {
      return deny(
        "denied-cidr",
        `${describeSubject(text, subject)} is in deny_cidrs ${denied.text}.`,
      );
    }
  }
  const literalAllowed = firstCovering(allowCidrs, literal) !== undefined;
  for (const subject of subjects) {
    const range = mostSpecificCovering(DENIED_RANGES, subject.address);
    if (range === undefined) continue;
    if (literalAllowed || firstCovering(allowCidrs, subject.address) !== undefined) continue;
    return deny(
      "denied-range",
      `${describeSubject(text, subject)} is in ${range.text} (${range.name}).`,
    );
  }
  return ALLOWED;
}

function checkPort(
  port: number,
  allowPorts: ReadonlySet<number>,
  denyPorts: ReadonlySet<number>,
): EgressVerdict {
  if (!isValidPort(port)) {
    return deny("invalid-port", `Port ${String(port)} is not an integer in 1..65535.`);
  }
  if (denyPorts.has(port)) return deny("denied-port", `Port ${port} is in deny_ports.`);
  if (allowPorts.size > 0 && !allowPorts.has(port)) {
    return deny(
      "denied-port",
      `Port ${port} is not in allow_ports (${[...allowPorts].join(", ")}).`,
    );
  }
  return ALLOWED;
}

const ALLOWED: EgressVerdict = Object.freeze({ allowed: true });

function deny(reason: EgressDenyReason, detail: string) {
  return Object.freeze({ allowed: false, reason, detail } as const);
}

/** The literal, plus every IPv4 address it carries. */
function subjectsOf(literal: IpAddress): Subject[] {
  const subjects: Subject[] = [{ address: literal }];
  if (literal.kind() !== "ipv6") return subjects;
  const bytes = literal.toByteArray();
  for (const embedding of EMBEDDINGS) {
    if (!literal.match(embedding.network, embedding.prefixLength)) continue;
    for (const layout of embedding.layouts) {
      const octets = layout.map((index) => bytes[index] ?? 0);
      subjects.push({ address: new ipaddr.IPv4(octets), via: embedding });
    }
  }
  return subjects;
}

function describeSubject(text: string, subject: Subject): string {
  if (subject.via === undefined) return text;
  return `${text} embeds IPv4 ${subject.address.toString()} (${subject.via.name}, ` +
    `${subject.via.text}), which`;
}

function firstCovering(cidrs: readonly Cidr[], address: IpAddress): Cidr | undefined {
  return cidrs.find((cidr) => covers(cidr, address));
}

function mostSpecificCovering(
  ranges: readonly DeniedRange[],
  address: IpAddress,
): DeniedRange | undefined {
  let best: DeniedRange | undefined;
  for (const range of ranges) {
    if (!covers(range, address)) continue;
    if (best === undefined || range.prefixLength > best.prefixLength) best = range;
  }
  return best;
}

function covers(cidr: Cidr, address: IpAddress): boolean {
  // ipaddr.js throws when the families differ.
  if (cidr.network.kind() !== address.kind()) return false;
  return address.match(cidr.network, cidr.prefixLength);
}

/** Parses only canonical literals; ipaddr.js alone also accepts `0x7f.1`, `127.1` and zone ids. */
function parseIpLiteral(text: string): IpAddress | undefined {
  if (text.length === 0 || text.length > MAX_IP_LITERAL_CHARS) return undefined;
  const canonical = text.includes(":") ? isCanonicalIPv6(text) : CANONICAL_IPV4.test(text);
  if (!canonical) return undefined;
  try {
    return ipaddr.parse(text);
  } catch {
    return undefined;
  }
}

/** RFC 4291 §2.2 text: eight groups, one optional `::`, an optional dotted-quad tail. */
function isCanonicalIPv6(text: string): boolean {
  if (!IPV6_ALPHABET.test(text)) return false;
  let hexOnly = text;
  if (text.includes(".")) {
    const lastColon = text.lastIndexOf(":");
    if (!CANONICAL_IPV4.test(text.slice(lastColon + 1))) return false;
    hexOnly = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = hexOnly.split("::");
  if (halves.length > 2) return false;
  const groups = halves.flatMap((half) => half === "" ? [] : half.split(":"));
  if (!groups.every((group) => IPV6_GROUP.test(group))) return false;
  return halves.length === 2 ? groups.length <= 7 : groups.length === 8;
}

function parseCidrList(
  texts: readonly string[],
  field: "allowCidrs" | "denyCidrs",
): Cidr[] {
  return texts.flatMap((text, index) => {
    const cidr = parseCidr(text);
    if (typeof cidr === "string") {
      throw new EgressConfigError(
        "invalid-cidr",
        field,
        index,
        `Invalid CIDR ${quote(text)} in ${configKey(field)}: ${cidr}`,
      );
    }
    return [cidr, ...ipv4EquivalentOfMapped(cidr)];
  });
}

/** A CIDR, or why the text is not one. Accepts a bare address as a single-address network. */
function parseCidr(text: string): Cidr | string {
  const example = "write a network such as 10.0.0.0/8 or fc00::/7, or a single address.";
  if (typeof text !== "string") return example;
  const [addressText = "", prefixText, ...rest] = text.split("/");
  const address = parseIpLiteral(addressText);
  if (address === undefined || rest.length > 0) return example;
  const maxPrefixLength = address.kind() === "ipv4" ? 32 : 128;
  if (prefixText === undefined) return { text, network: address, prefixLength: maxPrefixLength };
  const prefixLength = Number(prefixText);
  if (!PREFIX_LENGTH.test(prefixText) || prefixLength > maxPrefixLength) {
    return `the prefix length must be 0..${maxPrefixLength}; ${example}`;
  }
  if (hasHostBits(address.toByteArray(), prefixLength)) {
    const network = networkAddress(address, prefixLength);
    return `it has host bits set; write ${network.toString()}/${prefixLength} for the network, ` +
      `or ${address.toString()}/${maxPrefixLength} for the single address.`;
  }
  return { text, network: address, prefixLength };
}

/**
 * `::ffff:a.b.c.d` and `a.b.c.d` are the same socket destination, so a mapped
 * CIDR in the config also applies to plain IPv4.
 */
function ipv4EquivalentOfMapped(cidr: Cidr): Cidr[] {
  if (cidr.network.kind() !== "ipv6" || cidr.prefixLength < 96) return [];
  const mapped = cidr.network as ipaddr.IPv6;
  if (!mapped.isIPv4MappedAddress()) return [];
  return [{
    text: cidr.text,
    network: mapped.toIPv4Address(),
    prefixLength: cidr.prefixLength - 96,
  }];
}

function hasHostBits(bytes: readonly number[], prefixLength: number): boolean {
  return bytes.some((byte, index) => (byte & ~networkMaskByte(index, prefixLength) & 0xff) !== 0);
}

function networkAddress(address: IpAddress, prefixLength: number): IpAddress {
  const bytes = address.toByteArray().map((byte, index) =>
    byte & networkMaskByte(index, prefixLength)
  );
  return ipaddr.fromByteArray(bytes);
}

function networkMaskByte(byteIndex: number, prefixLength: number): number {
  const networkBits = Math.min(8, Math.max(0, prefixLength - byteIndex * 8));
  return (0xff << (8 - networkBits)) & 0xff;
}

function parsePortList(
  ports: readonly number[],
  field: "allowPorts" | "denyPorts",
): number[] {
  ports.forEach((port, index) => {
    if (isValidPort(port)) return;
    throw new EgressConfigError(
      "invalid-port",
      field,
      index,
      `Invalid port ${quote(port)} in ${configKey(field)}: write an integer in 1..65535.`,
    );
  });
  return [...ports];
}

function isValidPort(port: unknown): port is number {
  return typeof port === "number" && Number.isInteger(port) && port >= PORT_MIN &&
    port <= PORT_MAX;
}

function configKey(field: keyof EgressPolicyConfig): string {
  return field.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

function quote(value: unknown): string {
  const text = typeof value === "string" ? value : String(value);
  const shown = text.length > MAX_ECHOED_INPUT_CHARS
    ? `${text.slice(0, MAX_ECHOED_INPUT_CHARS)}…`
    : text;
  return JSON.stringify(shown);
}

function parseConstantCidr(text: string): Cidr {
  const cidr = parseCidr(text);
  // Only reachable if a constant above is mistyped; the tests load this module.
  if (typeof cidr === "string") {
    throw new P2proxyError("internal", `Built-in CIDR ${text}: ${cidr}`);
  }
  return cidr;
}

const DENIED_RANGES: readonly DeniedRange[] = DEFAULT_DENIED_RANGES.map((range) => ({
  ...parseConstantCidr(range.cidr),
  name: range.name,
}));

const EMBEDDINGS: readonly Embedding[] = EMBEDDING_PREFIXES.map((prefix) => ({
  ...parseConstantCidr(prefix.cidr),
  name: prefix.name,
  layouts: prefix.layouts,
}));
