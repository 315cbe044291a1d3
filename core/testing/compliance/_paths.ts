/**
 * POSIX path containment as pure string work (core/ does no I/O, and
 * `node:path` is not among the modules it may import).
 *
 * @module
 */

/** `path` is `dir` or below it (both normalized; `..` cannot climb out). Pure string work. */
export function isInside(path: string, dir: string): boolean {
  const normalizedPath = normalizePath(path);
  const normalizedDir = normalizePath(dir);
  if (normalizedPath === undefined || normalizedDir === undefined) return false;
  if (normalizedPath.absolute !== normalizedDir.absolute) return false;
  const base = normalizedDir.parts;
  const rest = normalizedPath.parts.slice(base.length);
  return normalizedPath.parts.length >= base.length &&
    base.every((part, i) => normalizedPath.parts[i] === part) && !rest.includes("..");
}

/** POSIX path → absolute flag and segments without `.`; undefined when `..` leaves the root. */
function normalizePath(path: string): { absolute: boolean; parts: string[] } | undefined {
  const absolute = path.startsWith("/");
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length === 0 || parts.at(-1) === "..") {
        if (absolute) return undefined;
        parts.push("..");
      } else {
        parts.pop();
      }
      continue;
    }
    parts.push(part);
  }
  return { absolute, parts };
}
