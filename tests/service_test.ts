/**
 * `p2proxy service <role> -c FILE` (docs/operations.md#running-as-a-service):
 * the unit's ExecStart is the line `p2proxy permissions` prints for the same
 * config and state dir, word for word (with this deno and the entry point as
 * paths); the hardening is there; a listener below port 1024 gets exactly
 * CAP_NET_BIND_SERVICE; and `systemd-analyze verify` accepts every unit
 * without a warning, when systemd-analyze is installed.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { printedPermissionLine, shellWords } from "../scripts/cluster.ts";
import { systemdQuote } from "../cli/commands/service.ts";
import { CLI_MAIN, describe, inParallelByName, runCli } from "./_cli.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/minimal/", import.meta.url));
const ROLES = {
  proxy: "Config.yaml",
  exit: "Exit.yaml",
  hub: "Hub.yaml",
  auth: "Auth.yaml",
} as const;
type Role = keyof typeof ROLES;

/** The hardening every unit carries. */
const HARDENING = [
  "DynamicUser=yes",
  "NoNewPrivileges=yes",
  "ProtectSystem=strict",
  "ProtectHome=read-only",
  "PrivateTmp=yes",
  "PrivateDevices=yes",
  "CapabilityBoundingSet=",
  "RestrictSUIDSGID=yes",
  "ProtectKernelTunables=yes",
  "SystemCallFilter=@system-service",
];

function directive(unit: string, key: string): string | undefined {
  return unit.split("\n").find((line) => line.startsWith(`${key}=`))?.slice(key.length + 1);
}

async function unitOf(role: Role, extra: string[] = [], cwd = FIXTURES): Promise<string> {
  const result = await runCli(["service", role, "-c", ROLES[role], ...extra], { cwd });
  assert.equal(result.code, 0, describe(result));
  return result.stdout;
}

async function hasSystemdAnalyze(): Promise<boolean> {
  try {
    const output = await new Deno.Command("systemd-analyze", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return output.success;
  } catch {
    return false;
  }
}

Deno.test("service: ExecStart is the permissions line word for word, with the unit's state dir", async () => {
  const units = await inParallelByName(
    Object.fromEntries(
      (Object.keys(ROLES) as Role[]).map((role) => [role, () => unitOf(role)]),
    ) as Record<Role, () => Promise<string>>,
  );
  for (const role of Object.keys(ROLES) as Role[]) {
    const unit = units[role];
    const stateDir = `/var/lib/p2proxy-${role}`;
    assert.equal(directive(unit, "StateDirectory"), `p2proxy-${role}`, role);
    assert.equal(directive(unit, "WorkingDirectory"), FIXTURES.replace(/\/$/, ""), role);
    for (const line of HARDENING) assert.ok(unit.includes(`\n${line}\n`), `${role}: ${line}`);
    const printed = await printedPermissionLine(
      [role, "-c", `${FIXTURES}${ROLES[role]}`, "--state-dir", stateDir],
      { cwd: FIXTURES },
    );
    const expected = shellWords(printed);
    assert.equal(expected[0], "deno");
    expected[0] = Deno.execPath();
    expected[expected.indexOf(CLI_MAIN)] = fileURLToPath(CLI_MAIN);
    assert.equal(directive(unit, "ExecStart"), expected.map(systemdQuote).join(" "), role);
    assert.match(directive(unit, "ExecStart")!, new RegExp(` --state-dir ${stateDir}$`), role);
  }
});

Deno.test("service: a listener below 1024 gets CAP_NET_BIND_SERVICE and nothing else", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p2proxy-service-" });
  try {
    await Deno.writeTextFile(
      `${dir}/Config.yaml`,
      "servers:\n  - port: 80\n    destination_peers: [" +
        "/ip4/127.0.0.1/tcp/4002/p2p/12D3KooWS6M2cP13vSHoPXVYbmYvhFgZowNrwyy7VkvbEUgXiXGZ]\n",
    );
    const unit = await unitOf("proxy", ["--name", "socks-on-80"], dir);
    assert.equal(directive(unit, "CapabilityBoundingSet"), "CAP_NET_BIND_SERVICE");
    assert.equal(directive(unit, "AmbientCapabilities"), "CAP_NET_BIND_SERVICE");
    assert.equal(directive(unit, "StateDirectory"), "socks-on-80");
    assert.match(directive(unit, "ExecStart")!, / --state-dir \/var\/lib\/socks-on-80$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("service: a bad name or an entry a unit cannot start is a usage error naming the fix", async () => {
  const badName = await runCli(["service", "hub", "-c", "Hub.yaml", "--name", "../etc"], {
    cwd: FIXTURES,
  });
  assert.equal(badName.code, 2, describe(badName));
  assert.match(badName.stderr, /--name "\.\.\/etc" cannot name a unit/);
  // What a bundle's CLI reports as its entry: a name, not a file a unit could start.
  const bundleEntry = await runCli(["service", "hub", "-c", "Hub.yaml", "--entry", "p2proxy"], {
    cwd: FIXTURES,
  });
  assert.equal(bundleEntry.code, 2, describe(bundleEntry));
  assert.match(bundleEntry.stderr, /give the bundle's path with --entry/);
  const demo = await runCli(["service", "demo", "-c", "Hub.yaml"], { cwd: FIXTURES });
  assert.equal(demo.code, 2, "the demo is not a service");
});

Deno.test("systemdQuote: plain words stay, % and $ are doubled, spaces and quotes are quoted", () => {
  assert.equal(systemdQuote("--allow-env=P2PROXY_*"), "--allow-env=P2PROXY_*");
  assert.equal(systemdQuote("/srv/p2proxy/Config.yaml"), "/srv/p2proxy/Config.yaml");
  assert.equal(systemdQuote("50%"), "50%%");
  assert.equal(systemdQuote("$HOME"), "$$HOME");
  assert.equal(systemdQuote("/srv/my proxy/a.yaml"), '"/srv/my proxy/a.yaml"');
  assert.equal(systemdQuote('say "hi"'), '"say \\"hi\\""');
  assert.equal(systemdQuote("a\\b"), '"a\\\\b"');
});

Deno.test({
  name: "service: systemd-analyze verify accepts every unit without a warning",
  async fn(t) {
    if (!await hasSystemdAnalyze()) {
      console.log("systemd-analyze is not installed here: the units were not verified by systemd.");
      return;
    }
    const dir = await Deno.makeTempDir({ prefix: "p2proxy-units-" });
    try {
      for (const role of Object.keys(ROLES) as Role[]) {
        await t.step(role, async () => {
          const path = `${dir}/p2proxy-${role}.service`;
          await Deno.writeTextFile(path, await unitOf(role));
          const output = await new Deno.Command("systemd-analyze", {
            args: ["verify", path],
            stdout: "piped",
            stderr: "piped",
          }).output();
          const stderr = new TextDecoder().decode(output.stderr);
          assert.equal(output.code, 0, stderr);
          assert.equal(stderr.trim(), "", "no warning either");
        });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
