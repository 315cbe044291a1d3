/**
 * The container's entry point (scripts/docker-entrypoint.sh), run here against the checkout's CLI
 * (the image itself cannot be built on these machines): a role runs under exactly the flags
 * `p2proxy permissions` prints for its config, with every other flag passed through; an operator's
 * tool command runs too.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { freePort, permissionFlags, waitForPort } from "../scripts/cluster.ts";
import { CLI_MAIN, describe, PEER_ID_PATTERN } from "./_cli.ts";

const SCRIPT = fileURLToPath(new URL("../scripts/docker-entrypoint.sh", import.meta.url));
const ENTRY = fileURLToPath(CLI_MAIN);

function entrypoint(args: string[], cwd: string, env: Record<string, string> = {}): Deno.Command {
  return new Deno.Command("sh", {
    args: [SCRIPT, ...args],
    cwd,
    env: { DENO: Deno.execPath(), P2PROXY_ENTRY: ENTRY, ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

Deno.test("docker entrypoint: a role runs under its permissions line; other flags pass through", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p2proxy-entrypoint-" });
  try {
    const port = freePort();
    await Deno.writeTextFile(
      `${dir}/Hub.yaml`,
      stringify({
        listen_addrs: [`/ip4/127.0.0.1/tcp/${port}`],
        announce_addrs: [`/ip4/127.0.0.1/tcp/${port}`],
        metrics_port: 0,
      }),
    );
    const child = entrypoint(["hub", "-c", "Hub.yaml", "--log-level", "warn", "--no-ui"], dir)
      .spawn();
    const output = child.output();
    let result: Deno.CommandOutput;
    try {
      await waitForPort(port, 20_000);
      // `exec` made the shell the deno process: its command line is what runs.
      const cmdline = (await Deno.readTextFile(`/proc/${child.pid}/cmdline`)).split("\0")
        .filter(Boolean);
      const expected = (await permissionFlags("hub", `${dir}/Hub.yaml`))
        .map((flag) => flag.replace(`${dir}/Hub.yaml`, "Hub.yaml"));
      assert.deepEqual(cmdline, [
        Deno.execPath(),
        "run",
        "--no-prompt",
        ...expected,
        ENTRY,
        "hub",
        "-c",
        "Hub.yaml",
        "--log-level",
        "warn",
        "--no-ui",
      ]);
    } finally {
      child.kill("SIGINT");
      result = await output;
    }
    assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("docker entrypoint: a tool command runs with reads, the state dir and the environment", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p2proxy-entrypoint-" });
  try {
    const output = await entrypoint(["id"], dir, { P2PROXY_STATE_DIR: `${dir}/state` }).output();
    const stdout = new TextDecoder().decode(output.stdout).trim();
    const result = { code: output.code, stdout, stderr: new TextDecoder().decode(output.stderr) };
    assert.equal(result.code, 0, describe(result));
    assert.match(stdout, PEER_ID_PATTERN);
    assert.ok(
      (await Deno.stat(`${dir}/state`)).isDirectory,
      "the identity went into the state dir",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
