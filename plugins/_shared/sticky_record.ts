/**
 * Reading a persisted sticky record that may be missing pieces, old, or
 * damaged: every entry is checked on its own, bad ones are skipped and named,
 * good ones kept. Shared by the file and Deno KV stores.
 *
 * @module
 */
import { describeType, isPlainObject } from "./json_shape.ts";
import {
  emptyStickyRecord,
  STICKY_RECORD_VERSION,
  type StickyPeerRecord,
  type StickyRecord,
  type StickyServerRecord,
} from "../../core/ports/sticky_store.ts";

/**
 * Versions this reader understands. 1 is this project's format (whose
 * entries may also be the anchor's v1 single-peer shape, which shares the
 * number); 2 is the anchor's pool format (RFC 3339 `updated_at`). Anything
 * else is set aside and overwritten on the next save.
 */
const READABLE_VERSIONS: ReadonlySet<unknown> = new Set([STICKY_RECORD_VERSION, 2]);

/** Longest peer id kept: base58 Ed25519 ids are 52 characters, RSA ids under 64; 128 leaves room. */
const MAX_PEER_ID_CHARS = 128;

/** Longest address kept: a circuit multiaddr with DNS names stays well under 1 KiB. */
const MAX_ADDRESS_CHARS = 1_024;

/** Longest fingerprint kept: a server's filters rendered as text, far below this. */
const MAX_FINGERPRINT_CHARS = 4_096;

/** Highest TCP port. */
const MAX_PORT = 65_535;

/** What reading a stored value found. */
export interface ParsedStickyRecord {
  /** The usable part: empty when the whole value was set aside. */
  readonly record: StickyRecord;
  /** Why the whole value was set aside (not JSON, wrong shape, unknown version). */
  readonly unusable?: string;
  /** One line per skipped server or peer entry. */
  readonly skipped: readonly string[];
}

/** What reading one server entry found. */
export interface ParsedServerRecord {
  /** The entry with its valid peers, or undefined when the entry itself is unusable. */
  readonly server?: StickyServerRecord;
  readonly skipped: readonly string[];
}

/** Reads the text of a sticky file. Never throws. */
export function parseStickyJson(text: string): ParsedStickyRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return setAside(`it is not JSON (${reason})`);
  }
  return parseStickyValue(value);
}

/** Reads a decoded sticky record (from JSON or a database). Never throws. */
export function parseStickyValue(value: unknown): ParsedStickyRecord {
  if (!isPlainObject(value)) return setAside(`it is ${describeType(value)}, not an object`);
  if (!READABLE_VERSIONS.has(value.version)) {
    return setAside(
      `its version is ${JSON.stringify(value.version) ?? "missing"}, ` +
        `and this p2proxy reads version ${STICKY_RECORD_VERSION}`,
    );
  }
  if (!isPlainObject(value.servers)) {
    return setAside(`its "servers" is ${describeType(value.servers)}, not an object`);
  }
  const servers: Record<string, StickyServerRecord> = {};
  const skipped: string[] = [];
  for (const [port, entry] of Object.entries(value.servers)) {
    if (!isPortKey(port)) {
      skipped.push(`server key ${JSON.stringify(port)} is not a port number`);
      continue;
    }
    const parsed = parseServerRecord(entry, `server ${port}`);
    skipped.push(...parsed.skipped);
    if (parsed.server) servers[port] = parsed.server;
  }
  return { record: { version: STICKY_RECORD_VERSION, servers }, skipped };
}

/**
 * Reads one server entry: `{fingerprint, peers: [...]}`, or the anchor's v1
 * `{peer_id, fingerprint, updated_at}`, which becomes a one-peer pool. Peers
 * that are malformed or repeated are skipped.
 */
export function parseServerRecord(value: unknown, label: string): ParsedServerRecord {
  if (!isPlainObject(value)) {
    return { skipped: [`${label} is ${describeType(value)}, not an object`] };
  }
  const fingerprint = value.fingerprint;
  if (typeof fingerprint !== "string" || fingerprint.length > MAX_FINGERPRINT_CHARS) {
    return { skipped: [`${label} has no valid "fingerprint"`] };
  }
  const rawPeers = Array.isArray(value.peers)
    ? value.peers
    : typeof value.peer_id === "string"
    ? [value]
    : undefined;
  if (rawPeers === undefined) return { skipped: [`${label} has no "peers" list`] };

  const peers: StickyPeerRecord[] = [];
  const skipped: string[] = [];
  const seen = new Set<string>();
  rawPeers.forEach((raw: unknown, index: number) => {
    const peer = parsePeerRecord(raw);
    if (typeof peer === "string") {
      skipped.push(`${label} peer #${index}: ${peer}`);
    } else if (seen.has(peer.peer_id)) {
      skipped.push(`${label} peer #${index}: ${peer.peer_id} is listed twice`);
    } else {
      seen.add(peer.peer_id);
      peers.push(peer);
    }
  });
  return { server: { fingerprint, peers }, skipped };
}

/** True for a decimal TCP port number without leading zeros ("1080"). */
export function isPortKey(key: string): boolean {
  return /^[1-9][0-9]{0,4}$/.test(key) && Number(key) <= MAX_PORT;
}

/** A valid peer entry, or why it is not one. */
function parsePeerRecord(value: unknown): StickyPeerRecord | string {
  if (!isPlainObject(value)) return `it is ${describeType(value)}, not an object`;
  const { peer_id: peerId, address } = value;
  if (typeof peerId !== "string" || peerId.length === 0 || peerId.length > MAX_PEER_ID_CHARS) {
    return `"peer_id" is not a peer id`;
  }
  if (address !== null && address !== undefined && !isAddress(address)) {
    return `"address" of ${peerId} is not a multiaddr`;
  }
  const updatedAt = parseTimestamp(value.updated_at);
  if (updatedAt === undefined) return `"updated_at" of ${peerId} is not a time`;
  return {
    peer_id: peerId,
    address: typeof address === "string" ? address : null,
    updated_at: updatedAt,
  };
}

function isAddress(value: unknown): value is string {
  return typeof value === "string" && value.startsWith("/") && value.length <= MAX_ADDRESS_CHARS;
}

/** Milliseconds since the epoch from a number, or from an RFC 3339 string (the anchor's format). */
function parseTimestamp(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== "string") return undefined;
  const parsed = Date.parse(value);
  return Number.isFinite(parsed) && parsed >= 0 ? parsed : undefined;
}

function setAside(reason: string): ParsedStickyRecord {
  return { record: emptyStickyRecord(), unusable: reason, skipped: [] };
}
