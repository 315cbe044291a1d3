/**
 * One process per state dir. Two nodes on one state dir would share an
 * identity (the same peer id twice on the network) and overwrite each
 * other's sticky file, so every long-running role (proxy, exit, hub,
 * `auth serve`) takes an exclusive OS lock on `<state_dir>/p2proxy.lock`
 * before it touches anything else there, and keeps it until the process
 * ends. The file holds the holder's pid, for the message the next process
 * prints.
 *
 * The lock is the operating system's advisory file lock (`flock` on Linux,
 * through `Deno.FsFile.tryLock`): the kernel drops it when the holder's
 * process ends for any reason, so a crashed node leaves no stale lock — the
 * file stays, unlocked, and the next start takes it over. The file is never
 * deleted: deleting a locked path would let two processes lock two
 * different files under one name.
 *
 * @module
 */
import { join, normalize } from "node:path";
import { describeError, P2proxyError } from "../core/errors.ts";
import type { PermissionSet } from "../core/plugin/permissions.ts";

/** The lock file's name inside the state dir. */
export const LOCK_FILE_NAME = "p2proxy.lock";

/**
 * How often, and how long apart, a process that found the lock held rereads
 * the holder's pid: the holder writes it just after it takes the lock, so a
 * reader can come in between. 10 × 20 ms is far longer than that gap.
 */
const PID_READ_ATTEMPTS = 10;
const PID_READ_PAUSE_MS = 20;

/** Why a state dir could not be locked. */
export type StateDirLockErrorCode = "in-use" | "unwritable";

/** The state dir is locked by another process, or the lock file cannot be opened. */
export class StateDirLockError extends P2proxyError<StateDirLockErrorCode> {
  /** The pid of the process holding the lock, when it could be read. */
  readonly holderPid: number | undefined;

  /** An error with its code, message and, for `in-use`, the holder's pid. */
  constructor(
    code: StateDirLockErrorCode,
    message: string,
    options?: ErrorOptions & { holderPid?: number },
  ) {
    super(code, message, options);
    this.holderPid = options?.holderPid;
  }
}

/** The lock file of a state dir. */
export function lockFilePath(stateDir: string): string {
  return join(stateDir, LOCK_FILE_NAME);
}

/**
 * What taking the lock needs: read and write in the state dir (it may have to
 * create the folder, and it reads the holder's pid).
 *
 * @example
 * ```ts
 * stateDirLockPermissions("hub-state"); // { read: ["hub-state"], write: ["hub-state"] }
 * ```
 */
export function stateDirLockPermissions(stateDir: string): PermissionSet {
  const folder = normalize(stateDir);
  return { read: [folder], write: [folder] };
}

/**
 * An exclusive lock on a state dir, held until `release()` or until the
 * process ends.
 *
 * @example
 * ```ts
 * const lock = await StateDirLock.acquire("proxy-state");
 * // … run the node …
 * lock.release();
 * ```
 */
export class StateDirLock {
  /** The state dir this lock guards. */
  readonly stateDir: string;
  #file: Deno.FsFile | undefined;

  private constructor(stateDir: string, file: Deno.FsFile) {
    this.stateDir = stateDir;
    this.#file = file;
  }

  /**
   * Takes the lock, creating the state dir and the lock file when missing.
   * Throws `StateDirLockError` `in-use` (naming the holder's pid) when
   * another process holds it, `unwritable` when the file cannot be opened.
   */
  static async acquire(stateDir: string): Promise<StateDirLock> {
    const path = lockFilePath(stateDir);
    let file: Deno.FsFile;
    try {
      await Deno.mkdir(stateDir, { recursive: true });
      file = await Deno.open(path, { read: true, write: true, create: true });
    } catch (error) {
      throw new StateDirLockError(
        "unwritable",
        `Cannot open the lock file "${path}" of the state dir (${describeError(error)}): ` +
          "make sure p2proxy may create and write files in the state dir.",
        { cause: error },
      );
    }
    let locked: boolean;
    try {
      locked = await file.tryLock(true);
    } catch (error) {
      file.close();
      throw new StateDirLockError(
        "unwritable",
        `Cannot lock "${path}" (${describeError(error)}): the file system of the state dir may ` +
          "not support file locks; use a local folder as state_dir.",
        { cause: error },
      );
    }
    if (!locked) {
      file.close();
      const holderPid = await readHolderPid(path);
      const holder = holderPid === undefined ? "another process" : `process ${holderPid}`;
      throw new StateDirLockError(
        "in-use",
        `The state dir "${stateDir}" is in use by ${holder} (it holds "${path}"): stop that ` +
          "process, or give this one its own state_dir (or --state-dir).",
        holderPid === undefined ? {} : { holderPid },
      );
    }
    await writePid(file);
    return new StateDirLock(stateDir, file);
  }

  /** Releases the lock (closing the file releases it); safe to call twice. */
  release(): void {
    this.#file?.close();
    this.#file = undefined;
  }

  /** Releases the lock at the end of a `using` block. */
  [Symbol.dispose](): void {
    this.release();
  }
}

async function writePid(file: Deno.FsFile): Promise<void> {
  await file.truncate(0);
  await file.seek(0, Deno.SeekMode.Start);
  const bytes = new TextEncoder().encode(`${Deno.pid}\n`);
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}

/** The pid the holder wrote, or undefined when it cannot be read in time (or is not a pid). */
async function readHolderPid(path: string): Promise<number | undefined> {
  for (let attempt = 0; attempt < PID_READ_ATTEMPTS; attempt++) {
    try {
      const text = (await Deno.readTextFile(path)).trim();
      if (/^[1-9]\d{0,9}$/.test(text)) return Number(text);
    } catch {
      // Unreadable (e.g. a platform where the lock also blocks reads): the pid stays unknown.
      return undefined;
    }
    await new Promise((resolve) => setTimeout(resolve, PID_READ_PAUSE_MS));
  }
  return undefined;
}
