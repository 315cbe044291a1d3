/**
 * README.md's "Operate your own network" is a script a user pastes: this test
 * runs exactly that text (between the walkthrough markers) with bash in an
 * empty temporary folder — the npx route, the auth service, a hub, an exit
 * and a proxy in the background, a curl at the end — and checks that the curl
 * printed the exit's address. Every role it starts is stopped afterwards
 * (they share the script's process group).
 *
 * @module
 */
import assert from "node:assert/strict";
import { REPO_ROOT, runCli } from "./_cli.ts";

/** The whole walk-through, cold `npx` starts included, on a slow CI box. */
const WALKTHROUGH_TIMEOUT_MS = 240_000;
/** How long the roles get to stop after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 15_000;

/** The config files the walk-through writes, and their roles. */
const ROLE_FILES = [
  ["Auth.yaml", "auth"],
  ["Hub.yaml", "hub"],
  ["Exit.yaml", "exit"],
  ["Config.yaml", "proxy"],
] as const;

/** The README's walk-through: the sh block between the markers. */
export function extractWalkthrough(readme: string): string {
  const between = /<!-- walkthrough:begin -->\s*```sh\n([\s\S]*?)```\s*<!-- walkthrough:end -->/
    .exec(readme);
  if (!between) throw new Error("README.md has no sh block between the walkthrough markers.");
  return between[1]!;
}

/** True while any process of the group `pgid` is alive. */
async function groupAlive(pgid: number): Promise<boolean> {
  const probe = await new Deno.Command("kill", {
    args: ["-0", "--", `-${pgid}`],
    stdout: "null",
    stderr: "null",
  }).output();
  return probe.success;
}

/** SIGTERM to the group, then SIGKILL to what is left after the grace period. */
async function stopGroup(pgid: number): Promise<void> {
  const signal = (name: Deno.Signal) => {
    try {
      Deno.kill(-pgid, name);
    } catch {
      // Everyone is gone already.
    }
  };
  signal("SIGTERM");
  const deadline = Date.now() + STOP_GRACE_MS;
  while (await groupAlive(pgid) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  if (await groupAlive(pgid)) signal("SIGKILL");
}

Deno.test("extractWalkthrough finds the block between the markers, and only there", () => {
  const readme = "```sh\nnot this\n```\n<!-- walkthrough:begin -->\n\n```sh\necho hi\n```\n\n" +
    "<!-- walkthrough:end -->\n";
  assert.equal(extractWalkthrough(readme), "echo hi\n");
  assert.throws(() => extractWalkthrough("```sh\necho hi\n```\n"), /walkthrough markers/);
});

Deno.test({
  name: "the README's walk-through runs as written and ends with the exit's address",
  async fn() {
    const script = extractWalkthrough(await Deno.readTextFile(`${REPO_ROOT}/README.md`));
    const dir = await Deno.makeTempDir({ prefix: "p2proxy-readme-" });
    await Deno.writeTextFile(`${dir}/walkthrough.sh`, script);
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(Deno.env.toObject())) {
      if (!name.startsWith("P2PROXY_")) env[name] = value;
    }
    // setsid: the script and every role it starts share one new process group, stopped below.
    const child = new Deno.Command("setsid", {
      args: ["bash", "-e", "walkthrough.sh"],
      cwd: dir,
      env: { ...env, P2PROXY_SRC: REPO_ROOT },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => stopGroup(child.pid), WALKTHROUGH_TIMEOUT_MS);
    try {
      const output = await child.output();
      const stdout = new TextDecoder().decode(output.stdout);
      const stderr = new TextDecoder().decode(output.stderr);
      const logs = await Promise.all(
        ["whoami", "auth", "hub", "exit", "proxy"].map(async (role) =>
          `--- ${role}.log\n${await Deno.readTextFile(`${dir}/${role}.log`).catch(() => "")}`
        ),
      );
      const context = `stdout:\n${stdout}\nstderr:\n${stderr}\n${logs.join("\n")}`;
      assert.equal(output.code, 0, context);
      // The whoami server saw the exit's bind_address: the request left through the exit.
      assert.match(stdout, /^you came from 127\.0\.0\.2$/m, context);
      assert.match(stdout, /stop everything with: kill \d+/, context);
      // `check` takes each file the walk-through wrote and tells its role from it.
      for (const [file, role] of ROLE_FILES) {
        const checked = await runCli(["check", "-c", file], { cwd: dir });
        assert.equal(checked.code, 0, `${file}: ${checked.stdout}${checked.stderr}`);
        assert.match(checked.stdout, new RegExp(`OK \\(${role}\\b`), `${file}: ${checked.stdout}`);
      }
    } finally {
      clearTimeout(timer);
      await stopGroup(child.pid);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
