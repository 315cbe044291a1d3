/**
 * Where a Deno KV plugin keeps its database and what that needs: a file in
 * the state directory (default), `:memory:`, or a KV Connect URL. Shared by
 * sticky-kv and registry-kv.
 *
 * @module
 */
import { isAbsolute, join } from "node:path";
import { z } from "zod";
import type { PermissionSet } from "../../core/plugin/permissions.ts";

/** The path Deno KV reads as a private in-memory database. */
export const IN_MEMORY_KV = ":memory:";

/** True for a KV Connect URL. */
export function isRemoteKv(path: string): boolean {
  return path.startsWith("https://") || path.startsWith("http://");
}

/** The location handed to `Deno.openKv`: `path` resolved against the state directory when it is a file. */
export function kvLocation(stateDir: string, path: string): string {
  if (path === IN_MEMORY_KV || isRemoteKv(path)) return path;
  return isAbsolute(path) ? join(path) : join(stateDir, path);
}

/** Exactly what opening `location` needs. */
export function kvPermissions(location: string): PermissionSet {
  if (location === IN_MEMORY_KV) return { unstable: ["kv"] };
  if (isRemoteKv(location)) {
    // KV Connect authenticates with this variable (Deno's documented name).
    return { net: [new URL(location).host], env: ["DENO_KV_ACCESS_TOKEN"], unstable: ["kv"] };
  }
  return { read: [location], write: [location], unstable: ["kv"] };
}

/** Options `{ path }` of a KV plugin, defaulting to `defaultFile` in the state directory. */
export function kvPathOptions(defaultFile: string) {
  return z.object({
    /** Database file (relative to the state directory unless absolute), `:memory:`, or a KV Connect URL. */
    path: z.string().min(1).default(defaultFile),
  }).strict().refine(
    (options) => !isRemoteKv(options.path) || URL.canParse(options.path),
    { path: ["path"], message: "path looks like a URL but is not a valid one" },
  );
}
