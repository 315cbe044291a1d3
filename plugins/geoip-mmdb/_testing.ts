/**
 * A minimal MaxMind DB writer, for tests only: an IPv4 search tree (24-bit
 * records) over a few prefixes, a data section of maps, strings, unsigned
 * integers and arrays, and the metadata block — enough for `mmdb-lib` to
 * read it like a GeoLite2 file (MaxMind DB spec, format version 2.0).
 *
 * @module
 */

/** A value the writer can encode. */
export type MmdbValue = string | number | readonly MmdbValue[] | {
  readonly [key: string]: MmdbValue;
};

/** One prefix and what it maps to. */
export interface MmdbEntry {
  /** IPv4 CIDR, e.g. `127.0.0.2/32`. */
  readonly cidr: string;
  readonly data: { readonly [key: string]: MmdbValue };
}

const RECORD_BYTES = 3;
const METADATA_MARKER = [0xab, 0xcd, 0xef, ...new TextEncoder().encode("MaxMind.com")];

/** A tree node: each side is another node, a data offset, or nothing. */
interface TreeNode {
  left: TreeNode | { data: number } | undefined;
  right: TreeNode | { data: number } | undefined;
}

/** Encodes `entries` as an IPv4 MaxMind DB (`database_type` as given). */
export function buildMmdb(
  entries: readonly MmdbEntry[],
  databaseType = "p2proxy-test",
): Uint8Array {
  const data: number[] = [];
  const root: TreeNode = { left: undefined, right: undefined };
  for (const entry of entries) {
    const offset = data.length;
    data.push(...encode(entry.data));
    insert(root, entry.cidr, offset);
  }
  const nodes: TreeNode[] = [];
  const number = new Map<TreeNode, number>();
  const queue = [root];
  while (queue.length > 0) {
    const node = queue.shift()!;
    number.set(node, nodes.length);
    nodes.push(node);
    for (const side of [node.left, node.right]) {
      if (side && !("data" in side)) queue.push(side);
    }
  }
  const nodeCount = nodes.length;
  const recordOf = (side: TreeNode["left"]): number => {
    if (side === undefined) return nodeCount;
    if ("data" in side) return nodeCount + 16 + side.data;
    return number.get(side)!;
  };
  const tree: number[] = [];
  for (const node of nodes) {
    for (const side of [node.left, node.right]) {
      const value = recordOf(side);
      tree.push((value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff);
    }
  }
  const metadata = encode({
    node_count: nodeCount,
    record_size: RECORD_BYTES * 8,
    ip_version: 4,
    database_type: databaseType,
    languages: ["en"],
    binary_format_major_version: 2,
    binary_format_minor_version: 0,
    build_epoch: 1_700_000_000,
    description: { en: "p2proxy test database" },
  });
  return Uint8Array.from([
    ...tree,
    ...new Array(16).fill(0),
    ...data,
    ...METADATA_MARKER,
    ...metadata,
  ]);
}

function insert(root: TreeNode, cidr: string, offset: number): void {
  const [address = "", bitsText = "32"] = cidr.split("/");
  const octets = address.split(".").map(Number);
  if (octets.length !== 4 || octets.some((o) => !(o >= 0 && o <= 255))) {
    throw new Error(`Not an IPv4 CIDR: ${cidr}`);
  }
  const ip = ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
  const bits = Number(bitsText);
  let node = root;
  for (let i = 0; i < bits; i++) {
    const right = ((ip >>> (31 - i)) & 1) === 1;
    if (i === bits - 1) {
      if (right) node.right = { data: offset };
      else node.left = { data: offset };
      return;
    }
    const next = right ? node.right : node.left;
    if (next && "data" in next) throw new Error(`${cidr} lies inside another entry`);
    const child = next ?? { left: undefined, right: undefined };
    if (right) node.right = child;
    else node.left = child;
    node = child;
  }
}

/** Type numbers of the data section (spec § "Output Data Section"). */
const TYPE = { string: 2, map: 7, uint32: 6, uint64: 9, array: 11 } as const;

function encode(value: MmdbValue): number[] {
  if (typeof value === "string") {
    const bytes = [...new TextEncoder().encode(value)];
    return [...control(TYPE.string, bytes.length), ...bytes];
  }
  if (typeof value === "number") {
    if (!Number.isInteger(value) || value < 0) throw new Error(`Only unsigned integers: ${value}`);
    const bytes: number[] = [];
    for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
    return [...control(value > 0xffff_ffff ? TYPE.uint64 : TYPE.uint32, bytes.length), ...bytes];
  }
  if (Array.isArray(value)) {
    return [...control(TYPE.array, value.length), ...value.flatMap((item) => encode(item))];
  }
  const entries = Object.entries(value as Record<string, MmdbValue>);
  return [
    ...control(TYPE.map, entries.length),
    ...entries.flatMap(([key, item]) => [...encode(key), ...encode(item)]),
  ];
}

/** The control byte(s) of a field of `type` and `size` (sizes below 285 only: plenty for tests). */
function control(type: number, size: number): number[] {
  if (size >= 285) throw new Error(`Field too large for the test writer: ${size}`);
  const [sizeBits, extension] = size < 29 ? [size, []] : [29, [size - 29]];
  const head = type <= 7 ? [(type << 5) | sizeBits] : [sizeBits, type - 7];
  return [...head, ...extension];
}
