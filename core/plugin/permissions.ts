/**
 * Deno permissions as data: what a plugin or a role needs, merged and rendered
 * as the narrowest `deno run --allow-*` flags (docs/plugins.md#permissions).
 *
 * @module
 */

/**
 * The permission kinds p2proxy ever asks for. Each entry is a host, path or
 * name; `"*"` grants the kind without a list (`--allow-net`).
 */
export interface PermissionSet {
  /** `host:port`, `host`, or `0.0.0.0:1080` for listening. */
  readonly net?: readonly string[];
  /** Paths to read (`--allow-read`). */
  readonly read?: readonly string[];
  /** Paths to write (`--allow-write`). */
  readonly write?: readonly string[];
  /** Environment variable names (`--allow-env`). */
  readonly env?: readonly string[];
  /** System information APIs, e.g. `networkInterfaces` (`--allow-sys`). */
  readonly sys?: readonly string[];
  /** Programs to run (`--allow-run`). */
  readonly run?: readonly string[];
  /** Unstable feature flags (`kv`…), rendered as `--unstable-<name>`. */
  readonly unstable?: readonly string[];
}

const KINDS = ["net", "read", "write", "env", "sys", "run"] as const;

/** Union of several permission sets, deduplicated and sorted. */
export function mergePermissions(...sets: readonly PermissionSet[]): PermissionSet {
  const merged: Record<string, string[]> = {};
  for (const kind of [...KINDS, "unstable"] as const) {
    const values = new Set<string>();
    for (const set of sets) for (const value of set[kind] ?? []) values.add(value);
    if (values.size > 0) merged[kind] = [...values].sort();
  }
  return merged as PermissionSet;
}

/** Renders a permission set as `deno run` flags, e.g. `--allow-net=127.0.0.1:1080`. */
export function renderPermissionFlags(set: PermissionSet): string[] {
  const flags: string[] = [];
  for (const kind of KINDS) {
    const values = set[kind];
    if (!values || values.length === 0) continue;
    flags.push(values.includes("*") ? `--allow-${kind}` : `--allow-${kind}=${values.join(",")}`);
  }
  for (const feature of set.unstable ?? []) flags.push(`--unstable-${feature}`);
  return flags;
}
