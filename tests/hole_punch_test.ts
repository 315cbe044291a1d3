/**
 * Hole punching (DCUtR + AutoNAT, `hole_punching: true`): a relayed proxy↔exit connection
 * upgrades to a direct one. js-libp2p's DCUtR dials only public addresses, so the test runs the
 * hub, exit and proxy inside a network namespace it creates, on IPv6 addresses from the
 * documentation prefix 3fff::/20 (tests/_hole_punch_scenario.ts). It needs root (or
 * CAP_NET_ADMIN) and `ip` (iproute2); without them it is skipped, saying why.
 *
 * What it cannot test here: a real NAT. The machines this project runs on have neither nftables
 * nor iptables (and the package list does not offer them), so both peers are directly reachable
 * inside the namespace and the upgrade taken is DCUtR's unilateral one (the exit dials the
 * proxy's announced address).
 *
 * @module
 */
import assert from "node:assert/strict";

const SCENARIO = new URL("./_hole_punch_scenario.ts", import.meta.url).pathname;
const ADDRESSES = ["3fff::1", "3fff::2"];

/** Runs `ip <args>`; the error text when it fails. */
async function ip(...args: string[]): Promise<string | undefined> {
  try {
    const output = await new Deno.Command("ip", { args, stdout: "null", stderr: "piped" })
      .output();
    return output.success ? undefined : new TextDecoder().decode(output.stderr).trim();
  } catch (error) {
    return String(error);
  }
}

/** Creates a namespace with the test addresses on its loopback; why not, when it cannot. */
async function createNamespace(name: string): Promise<string | undefined> {
  const problem = await ip("netns", "add", name);
  if (problem !== undefined) return problem;
  for (
    const args of [
      ["netns", "exec", name, "ip", "link", "set", "lo", "up"],
      ...ADDRESSES.map((
        a,
      ) => ["netns", "exec", name, "ip", "-6", "addr", "add", `${a}/128`, "dev", "lo", "nodad"]),
    ]
  ) {
    const failed = await ip(...args);
    if (failed !== undefined) {
      await ip("netns", "del", name);
      return failed;
    }
  }
  return undefined;
}

const PROBE = `p2proxy-probe-${crypto.randomUUID().slice(0, 8)}`;
const unavailable = await createNamespace(PROBE);
if (unavailable === undefined) await ip("netns", "del", PROBE);
else {
  console.warn(
    `hole_punch_test: skipped — cannot create a network namespace here (${unavailable}). ` +
      "It needs root (or CAP_NET_ADMIN) and iproute2's `ip`.",
  );
}

Deno.test({
  name: "hole punching: a relayed proxy→exit connection upgrades to a direct one (DCUtR)",
  ignore: unavailable !== undefined,
  fn: async () => {
    const name = `p2proxy-dcutr-${crypto.randomUUID().slice(0, 8)}`;
    const problem = await createNamespace(name);
    assert.equal(problem, undefined, `cannot create the namespace: ${problem}`);
    try {
      const output = await new Deno.Command("ip", {
        args: ["netns", "exec", name, Deno.execPath(), "run", "-A", "--no-prompt", SCENARIO],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(output.stdout).trim();
      const stderr = new TextDecoder().decode(output.stderr);
      assert.ok(output.success, `the scenario failed:\n${stderr}`);
      const result = JSON.parse(stdout.slice(stdout.lastIndexOf("\n") + 1));
      assert.equal(result.error, undefined, `${result.error}\n${result.logs}`);
      assert.equal(result.firstRequest, 0, "curl through the relayed exit");
      assert.equal(result.routes[0], "relayed", `routes: ${result.routes}`);
      assert.ok(result.routes.includes("direct"), `no direct connection: ${result.routes}`);
      assert.equal(result.routes.at(-1), "direct", `the last connection opened: ${result.routes}`);
      assert.equal(result.requestAfterUpgrade, 0, "curl after the upgrade");
    } finally {
      await ip("netns", "del", name);
    }
  },
});
