/**
 * One process per state dir, with real processes: a second role on a state
 * dir in use refuses to start (exit code 1, one line naming the first one's
 * pid and the dir), also under its printed permissions; a holder killed with
 * SIGKILL leaves no stale lock.
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import {
  freePort,
  type LaunchedRole,
  launchPrintedLine,
  launchRole,
  permissionFlags,
  printedPermissionLine,
  startHub,
  waitUntilListening,
} from "../scripts/cluster.ts";

/** A refused start is over long before this (it stops before loading any plugin). */
const REFUSAL_WITHIN_MS = 20_000;

/** The role's exit status, killing it (and failing) if it is still running after `timeoutMs`. */
async function exitCodeWithin(role: LaunchedRole, timeoutMs: number): Promise<number> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), timeoutMs);
  });
  try {
    const outcome = await Promise.race([role.finished(), late]);
    if (outcome !== "late") return outcome.code;
  } finally {
    clearTimeout(timer);
  }
  await role.kill();
  throw new Error(`Still running after ${timeoutMs} ms:\n${role.logs()}`);
}

/** Asserts `role` was refused for the state dir `dir` held by process `holderPid`. */
async function assertRefused(role: LaunchedRole, dir: string, holderPid: number): Promise<void> {
  assert.equal(await exitCodeWithin(role, REFUSAL_WITHIN_MS), 1, role.logs());
  const message = role.logs().trim();
  assert.doesNotMatch(message, /\n/, "one line");
  assert.match(message, new RegExp(`\\bprocess ${holderPid}\\b`));
  assert.ok(message.includes(`"${dir}"`), message);
}

Deno.test("a second hub on a state dir in use refuses to start; a killed holder leaves no stale lock", async () => {
  const first = await startHub();
  const running: { stop(): Promise<unknown> }[] = [first];
  try {
    const second = `${first.dir}/second.yaml`;
    await Deno.writeTextFile(
      second,
      stringify({
        state_dir: first.dir,
        listen_addrs: [`/ip4/127.0.0.1/tcp/${freePort()}`],
        metrics_port: 0,
      }),
    );
    // Under its printed permissions: reading the holder's pid needs nothing more.
    const refused = launchRole("hub", second, { flags: await permissionFlags("hub", second) });
    running.push(refused);
    await assertRefused(refused, first.dir, first.child.pid);

    // A crash: the kernel drops the lock with the process, so the next start takes it over.
    await first.kill();
    const thirdPort = freePort();
    await Deno.writeTextFile(
      second,
      stringify({
        state_dir: first.dir,
        listen_addrs: [`/ip4/127.0.0.1/tcp/${thirdPort}`],
        metrics_port: 0,
      }),
    );
    const third = launchRole("hub", second);
    running.push(third);
    await waitUntilListening(third, thirdPort, "the hub after a crash");
    assert.equal(
      (await Deno.readTextFile(`${first.dir}/p2proxy.lock`)).trim(),
      `${third.child.pid}`,
    );
  } finally {
    for (const role of running.reverse()) await role.stop();
  }
});

Deno.test("a second auth service on a state dir in use refuses to start", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p2proxy-lock-auth-" });
  const running: LaunchedRole[] = [];
  try {
    const [firstPort, secondPort] = [freePort(), freePort()];
    const config = (port: number, name: string) => {
      const path = `${dir}/${name}.yaml`;
      return Deno.writeTextFile(
        path,
        stringify({ listen: `127.0.0.1:${port}`, state_dir: dir }),
      ).then(() => path);
    };
    // Both under their printed lines (`auth serve -c …`).
    const serve = async (path: string) =>
      launchPrintedLine(await printedPermissionLine(["auth", "-c", path]));
    const first = await serve(await config(firstPort, "first"));
    running.push(first);
    await waitUntilListening(first, firstPort, "auth serve");
    const refused = await serve(await config(secondPort, "second"));
    running.push(refused);
    await assertRefused(refused, dir, first.child.pid);
  } finally {
    for (const role of running.reverse()) await role.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
