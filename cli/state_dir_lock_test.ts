import assert from "node:assert/strict";
import { join } from "node:path";
import { LOCK_FILE_NAME, StateDirLock, StateDirLockError } from "./state_dir_lock.ts";

async function withTempDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "p2proxy-lock-" });
  try {
    await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the lock creates a missing state dir and records the holder's pid", async () => {
  await withTempDir(async (dir) => {
    const stateDir = join(dir, "new", "state");
    using _lock = await StateDirLock.acquire(stateDir);
    assert.equal(await Deno.readTextFile(join(stateDir, LOCK_FILE_NAME)), `${Deno.pid}\n`);
  });
});

Deno.test("a second lock on a held state dir is refused, naming the holder's pid and the dir", async () => {
  await withTempDir(async (dir) => {
    // A stale pid from an earlier run is overwritten, not believed.
    await Deno.writeTextFile(join(dir, LOCK_FILE_NAME), "999999\n");
    const first = await StateDirLock.acquire(dir);
    try {
      // flock locks belong to the open file, so a second open in this process conflicts too.
      const refused = await StateDirLock.acquire(dir).then(() => undefined, (error) => error);
      assert.ok(refused instanceof StateDirLockError, String(refused));
      assert.equal(refused.code, "in-use");
      assert.equal(refused.holderPid, Deno.pid);
      assert.match(refused.message, new RegExp(`process ${Deno.pid}\\b`));
      assert.ok(refused.message.includes(`"${dir}"`), refused.message);
      assert.doesNotMatch(refused.message, /\n/);
    } finally {
      first.release();
    }
    // Released: the next one gets it.
    using _again = await StateDirLock.acquire(dir);
  });
});

Deno.test("a state dir that cannot hold a lock file is refused as unwritable", async () => {
  await withTempDir(async (dir) => {
    const notADir = join(dir, "file");
    await Deno.writeTextFile(notADir, "");
    const refused = await StateDirLock.acquire(notADir).then(() => undefined, (error) => error);
    assert.ok(refused instanceof StateDirLockError, String(refused));
    assert.equal(refused.code, "unwritable");
    assert.ok(refused.message.includes(join(notADir, LOCK_FILE_NAME)), refused.message);
  });
});
