/**
 * Files that hold private keys (the node identity, the auth service's
 * signing key): created with mode 0600, written to a synced temp file and
 * linked into place, so a crash never leaves half a key and an existing key
 * is never replaced — replacing one changes an identity or voids every token.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import type { Logger } from "@logtape/logtape";
import { describeError } from "../core/errors.ts";

/** Owner read/write only. */
export const SECRET_FILE_MODE = 0o600;

/** Any of these mode bits means someone else may read the file. */
const GROUP_AND_OTHER_BITS = 0o077;

/**
 * Creates `path` holding `bytes` (mode 0600), creating its folder. Throws
 * `Deno.errors.AlreadyExists` when `path` exists (it is left untouched), and
 * the underlying error for anything else.
 */
export async function writeNewSecretFile(
  path: string,
  bytes: Uint8Array,
  logger: Logger,
): Promise<void> {
  const folder = dirname(path);
  await Deno.mkdir(folder, { recursive: true });
  const temp = join(folder, `.${basename(path)}.${crypto.randomUUID()}.tmp`);
  try {
    await Deno.writeFile(temp, bytes, { mode: SECRET_FILE_MODE, createNew: true });
    // The umask may have narrowed the mode further, never widened it; set it exactly anyway.
    if (Deno.build.os !== "windows") await Deno.chmod(temp, SECRET_FILE_MODE);
    // Durable before it is linked into place: a power cut must not leave an empty key file.
    using file = await Deno.open(temp, { read: true });
    await file.syncData();
    await publishWithoutReplacing(temp, path, logger);
  } finally {
    await Deno.remove(temp).catch(() => {
      // NotFound after a rename, or the write never created it.
    });
  }
}

/** Moves `temp` to `path` unless `path` exists: a hard link is atomic and never replaces. */
async function publishWithoutReplacing(temp: string, path: string, logger: Logger): Promise<void> {
  try {
    await Deno.link(temp, path);
    return;
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) throw error;
    logger.debug("Hard links are unavailable for {path} ({error}); renaming instead.", {
      path,
      error: describeError(error),
    });
  }
  if (await exists(path)) throw new Deno.errors.AlreadyExists(`"${path}" already exists.`);
  await Deno.rename(temp, path);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Warns (once per call) when a key file is readable by other users; `risk` says why that matters. */
export async function warnIfReadableByOthers(
  path: string,
  risk: string,
  logger: Logger,
): Promise<void> {
  if (Deno.build.os === "windows") return;
  try {
    const { mode } = await Deno.stat(path);
    if (mode === null || (mode & GROUP_AND_OTHER_BITS) === 0) return;
    logger.warn("{path} is readable by other users (mode {mode}): {risk} Run `chmod 600 {path}`.", {
      path,
      mode: `0${(mode & 0o777).toString(8)}`,
      risk,
    });
  } catch (error) {
    logger.debug("Could not check the mode of {path}: {error}", {
      path,
      error: describeError(error),
    });
  }
}
