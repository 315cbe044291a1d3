/**
 * The command line as a user meets it (README, "Commands"): real `deno run` subprocesses,
 * asserting exit codes and what is printed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import manifest from "../deno.json" with { type: "json" };
import {
  CLI_MAIN,
  describe,
  inParallel,
  inParallelByName,
  PEER_ID_PATTERN,
  runCli,
  runDeno,
} from "./_cli.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const EXIT_OK = 0;
const EXIT_RUNTIME = 1;
const EXIT_USAGE = 2;

/** A peer id the test did not make up: it only has to be well-formed. */
const PINNED_PEER = "12D3KooWS6M2cP13vSHoPXVYbmYvhFgZowNrwyy7VkvbEUgXiXGZ";

function fixture(name: string): string {
  return join(FIXTURES, name);
}

/** The command names listed under "Commands:" in the top-level help. */
function commandsOf(help: string): string[] {
  const section = help.split(/^Commands:$/m)[1] ?? "";
  return [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]!);
}

/** The values of `--allow-<kind>=a,b` in a list of flags (undefined when absent or bare). */
function allowList(flags: readonly string[], kind: string): string[] | undefined {
  const flag = flags.find((f) => f.startsWith(`--allow-${kind}=`));
  return flag?.slice(`--allow-${kind}=`.length).split(",");
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "p2proxy-cli-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("--version prints the deno.json version; help works for every command", async (t) => {
  const { version, help, unknown } = await inParallelByName({
    version: () => runCli(["--version"]),
    help: () => runCli(["--help"]),
    unknown: () => runCli(["frobnicate"]),
  });

  await t.step("--version", () => {
    assert.equal(version.code, EXIT_OK, describe(version));
    assert.equal(version.stdout.trim(), manifest.version);
  });

  await t.step("--help lists the commands", () => {
    assert.equal(help.code, EXIT_OK, describe(help));
    assert.match(help.stdout, /^Usage: p2proxy /m);
    const commands = commandsOf(help.stdout);
    for (const expected of ["plugins", "check", "permissions", "keygen", "id"]) {
      assert.ok(commands.includes(expected), `"${expected}" missing from ${commands}`);
    }
  });

  await t.step("<command> --help for every listed command", async () => {
    const commands = commandsOf(help.stdout).filter((c) => c !== "help");
    const results = await inParallel(commands.map((c) => () => runCli([c, "--help"])));
    commands.forEach((command, i) => {
      const result = results[i]!;
      assert.equal(result.code, EXIT_OK, `${command} --help: ${describe(result)}`);
      assert.match(result.stdout, new RegExp(`^Usage: p2proxy ${command}\\b`, "m"));
      assert.match(result.stdout, /--help/);
    });
  });

  await t.step("an unknown command is bad usage", () => {
    assert.equal(unknown.code, EXIT_USAGE, describe(unknown));
    assert.match(unknown.stderr, /unknown command 'frobnicate'/);
    assert.equal(unknown.stdout, "");
  });
});

Deno.test("check -c validates a config and reports every problem at once", async (t) => {
  const check = (config: string, ...more: string[]) => () =>
    runCli(["check", ...more, "-c", fixture(config)]);
  const { good, bad, missing, exit, hub, noRole, wrongRole, badEnv, platformPort, missingAuth } =
    await inParallelByName({
      good: check("proxy.yaml"),
      bad: check("bad_proxy.yaml"),
      missing: check("does_not_exist.yaml"),
      exit: check("exit.yaml"),
      hub: check("hub.yaml"),
      noRole: check("no_role.yaml"),
      wrongRole: check("exit.yaml", "--role", "hub"),
      badEnv: () =>
        runCli(["check", "-c", fixture("proxy.yaml")], { env: { P2PROXY_METRICS_PORT: "abc" } }),
      platformPort: () => runCli(["check", "-c", fixture("proxy.yaml")], { env: { PORT: "9" } }),
      // The auth service starts with its defaults when its file is missing; `check` still says so.
      missingAuth: check("does_not_exist.yaml", "--role", "auth"),
    });

  await t.step("a valid proxy config", () => {
    assert.equal(good.code, EXIT_OK, describe(good));
    assert.match(good.stdout, /proxy\.yaml: OK \(proxy, 2 server\(s\)\)/);
  });

  await t.step("a config with six mistakes lists all six with their paths", () => {
    assert.equal(bad.code, EXIT_USAGE, describe(bad));
    assert.doesNotMatch(bad.stdout, /OK/);
    const lines = bad.stderr.split("\n");
    const lineAt = (path: string) => {
      const line = lines.find((l) => l.includes(` ${path}: `));
      assert.ok(line, `no problem reported at ${path}:\n${bad.stderr}`);
      return line;
    };
    assert.match(lineAt("servers[0].min_bandwith"), /did you mean `?min_bandwidth`?/i);
    assert.match(lineAt("servers[0].country"), /"Atlantis"/);
    assert.match(lineAt("servers[0].isp"), /\(\[unclosed.*regular expression/);
    assert.match(lineAt("servers[0].destination_peers[0]"), /12D3KooWnotapeerid/);
    assert.match(lineAt("servers[1].port"), /1080/);
    assert.match(lineAt("servers[1].min_bandwidth"), /\b50\b.*unit/);
    assert.match(bad.stderr, /bad_proxy\.yaml has 6 problems/);
  });

  await t.step("a missing file is named", () => {
    for (const result of [missing, missingAuth]) {
      assert.equal(result.code, EXIT_USAGE, describe(result));
      assert.match(result.stderr, /does_not_exist\.yaml/);
      assert.match(result.stderr, /does not exist/);
    }
  });

  await t.step("the role is guessed from the keys, and --role overrides the guess", () => {
    assert.equal(exit.code, EXIT_OK, describe(exit));
    assert.match(exit.stdout, /exit\.yaml: OK \(exit\)/);
    assert.equal(hub.code, EXIT_OK, describe(hub));
    assert.match(hub.stdout, /hub\.yaml: OK \(hub\)/);
    assert.equal(wrongRole.code, EXIT_USAGE, describe(wrongRole));
    assert.match(wrongRole.stderr, /Unknown key `attributes`/);
  });

  await t.step("keys every role takes: the roles it could be, and --role", () => {
    assert.equal(noRole.code, EXIT_USAGE, describe(noRole));
    assert.match(noRole.stderr, /no_role\.yaml/);
    assert.match(noRole.stderr, /fit exit, hub and auth/);
    assert.match(noRole.stderr, /--role exit\|hub\|auth/);
  });

  await t.step("P2PROXY_METRICS_PORT=abc is a config error naming the variable", () => {
    assert.equal(badEnv.code, EXIT_USAGE, describe(badEnv));
    assert.match(badEnv.stderr, /P2PROXY_METRICS_PORT/);
    assert.match(badEnv.stderr, /"abc"/);
  });

  await t.step("a platform PORT variable changes nothing", () => {
    assert.equal(platformPort.code, EXIT_OK, describe(platformPort));
    assert.equal(platformPort.stdout, good.stdout);
  });
});

/** A flow mapping never closed: a syntax error whatever the role (written here: `deno fmt` checks fixtures). */
const SYNTAX_ERROR_YAML = "log_level: info\nrelay: { max_reservations: 64\nfind_nodes_max: 10\n";

Deno.test("check finds what would break at run time", async (t) => {
  const check = (config: string, ...more: string[]) => () =>
    runCli(["check", ...more, "-c", fixture(config)]);
  const dir = await Deno.makeTempDir({ prefix: "p2proxy-check-test-" });
  const syntaxError = join(dir, "syntax_error.yaml");
  await Deno.writeTextFile(syntaxError, SYNTAX_ERROR_YAML);
  const results = await inParallelByName({
    readmeHub: check("readme/Hub.yaml"),
    readmeAuth: check("readme/Auth.yaml"),
    minimalProxy: check("minimal/Config.yaml"),
    minimalExit: check("minimal/Exit.yaml"),
    minimalHub: check("minimal/Hub.yaml"),
    minimalAuth: check("minimal/Auth.yaml"),
    syntax: () => runCli(["check", "-c", syntaxError]),
    syntaxWithRole: () => runCli(["check", "--role", "hub", "-c", syntaxError]),
    noRoute: check("no_route_proxy.yaml"),
    noRouteButHub: () =>
      runCli(["check", "-c", fixture("no_route_proxy.yaml")], {
        env: { P2PROXY_BOOTSTRAP: `/ip4/127.0.0.1/tcp/4001/p2p/${PINNED_PEER}` },
      }),
    proxyRefuses: () => runCli(["proxy", "-c", fixture("no_route_proxy.yaml")]),
  }).finally(() => Deno.remove(dir, { recursive: true }));

  await t.step("the README's Hub.yaml: its keys fit exit and hub; its name says hub", () => {
    const { readmeHub } = results;
    assert.equal(readmeHub.code, EXIT_OK, describe(readmeHub));
    assert.match(
      readmeHub.stdout,
      /Hub\.yaml: OK \(hub, from the file name: its keys fit exit and hub\)/,
    );
  });

  await t.step("the README's Auth.yaml is the auth service's, by its keys", () => {
    const { readmeAuth } = results;
    assert.equal(readmeAuth.code, EXIT_OK, describe(readmeAuth));
    assert.match(readmeAuth.stdout, /Auth\.yaml: OK \(auth, 0 API key\(s\)\)/);
  });

  await t.step("each role's smallest file", () => {
    const { minimalProxy, minimalExit, minimalHub, minimalAuth } = results;
    assert.equal(minimalProxy.code, EXIT_OK, describe(minimalProxy));
    assert.match(minimalProxy.stdout, /Config\.yaml: OK \(proxy, 1 server\(s\)\)/);
    for (const [result, role] of [[minimalExit, "exit"], [minimalHub, "hub"]] as const) {
      assert.equal(result.code, EXIT_OK, describe(result));
      assert.match(result.stdout, new RegExp(`OK \\(${role}, from the file name`, "i"));
    }
    assert.equal(minimalAuth.code, EXIT_OK, describe(minimalAuth));
    assert.match(minimalAuth.stdout, /OK \(auth, from the file name.*, 0 API key\(s\)\)/);
  });

  await t.step("a YAML syntax error is one, with line and column, exit 2", () => {
    for (const result of [results.syntax, results.syntaxWithRole]) {
      assert.equal(result.code, EXIT_USAGE, describe(result));
      assert.match(result.stderr, /syntax_error\.yaml has 1 problem/);
      // The parser notices the unclosed `{` where the next key starts.
      assert.match(result.stderr, /line 3, column 1: Invalid YAML: /);
      assert.doesNotMatch(result.stderr, /Cannot tell which role/);
    }
  });

  await t.step("a proxy server without pins or a hub: named, with what to add; exit 2", () => {
    const { noRoute, noRouteButHub, proxyRefuses } = results;
    assert.equal(noRoute.code, EXIT_USAGE, describe(noRoute));
    assert.match(noRoute.stderr, /no_route_proxy\.yaml has 1 problem/);
    assert.match(noRoute.stderr, /line 7, servers\[1\]: This server can never reach an exit/);
    assert.match(noRoute.stderr, /`bootstrap: \[/);
    assert.match(noRoute.stderr, /`destination_peers`/);
    // A hub from the environment is a route too.
    assert.equal(noRouteButHub.code, EXIT_OK, describe(noRouteButHub));
    // `proxy` refuses the file as `check` does, before it starts anything.
    assert.equal(proxyRefuses.code, EXIT_USAGE, describe(proxyRefuses));
    assert.match(proxyRefuses.stderr, /servers\[1\]: This server can never reach an exit/);
  });
});

Deno.test("PORT does not move any listener; P2PROXY_PORT does (permissions show it)", async () => {
  await withTempDir(async (dir) => {
    const config = join(dir, "pinned.yaml");
    await Deno.writeTextFile(
      config,
      [
        `state_dir: ${JSON.stringify(join(dir, "state"))}`,
        `listen_addrs: ["/ip4/127.0.0.1/tcp/4100"]`,
        "servers:",
        "  - protocol: socks5",
        "    port: 1080",
        "    destination_peers:",
        `      - /ip4/127.0.0.1/tcp/4001/p2p/${PINNED_PEER}`,
        "",
      ].join("\n"),
    );
    const args = ["permissions", "proxy", "-c", config, "--flags-only"];
    const [baseline, platform, own] = await Promise.all([
      runCli(args),
      runCli(args, { env: { PORT: "9" } }),
      runCli(args, { env: { P2PROXY_PORT: "9" } }),
    ]);
    for (const result of [baseline, platform, own]) assert.equal(result.code, 0, describe(result));
    const net = (stdout: string) => allowList(stdout.trim().split(" "), "net") ?? [];
    assert.ok(net(baseline.stdout).includes("127.0.0.1:4100"), baseline.stdout);
    assert.equal(platform.stdout, baseline.stdout);
    assert.ok(net(own.stdout).includes("127.0.0.1:9"), own.stdout);
    assert.ok(!net(own.stdout).includes("127.0.0.1:4100"), own.stdout);
  });
});

Deno.test("keygen writes a 0600 key once and never replaces it", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "k.bin");
    const first = await runCli(["keygen", "--out", out]);
    assert.equal(first.code, EXIT_OK, describe(first));
    const peerId = first.stdout.trim();
    assert.match(peerId, PEER_ID_PATTERN);
    assert.equal((await Deno.stat(out)).mode! & 0o777, 0o600);
    const key = await Deno.readFile(out);

    const second = await runCli(["keygen", "--out", out]);
    assert.equal(second.code, EXIT_RUNTIME, describe(second));
    assert.equal(second.stdout, "");
    assert.ok(second.stderr.includes(out), second.stderr);
    assert.deepEqual(await Deno.readFile(out), key);

    // `id` reads the same key from a state dir.
    const stateDir = join(dir, "state");
    await Deno.mkdir(stateDir);
    await Deno.copyFile(out, join(stateDir, "node_keypair.bin"));
    const id = await runCli(["id", "--state-dir", stateDir]);
    assert.equal(id.code, EXIT_OK, describe(id));
    assert.equal(id.stdout.trim(), peerId);
  });
});

Deno.test("keygen without --out writes into the state dir, never the current folder", async () => {
  await withTempDir(async (dir) => {
    const byFlag = await runCli(["keygen", "--state-dir", "hub-state"], { cwd: dir });
    assert.equal(byFlag.code, EXIT_OK, describe(byFlag));
    const byEnv = await runCli(["keygen"], { cwd: dir, env: { P2PROXY_STATE_DIR: "exit-state" } });
    assert.equal(byEnv.code, EXIT_OK, describe(byEnv));
    // Each key is where its state dir says, and `id` in that state dir names the same peer.
    for (const [state, printed] of [["hub-state", byFlag], ["exit-state", byEnv]] as const) {
      assert.equal((await Deno.stat(join(dir, state, "node_keypair.bin"))).mode! & 0o777, 0o600);
      const id = await runCli(["id"], { cwd: dir, env: { P2PROXY_STATE_DIR: state } });
      assert.equal(id.stdout.trim(), printed.stdout.trim(), describe(id));
    }
    assert.notEqual(byFlag.stdout.trim(), byEnv.stdout.trim());
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
      ["exit-state", "hub-state"],
      "nothing but the two state dirs was written",
    );
  });
});

Deno.test("id creates an identity when absent and refuses a corrupt one", async (t) => {
  await withTempDir(async (dir) => {
    await t.step("absent: created with mode 0600, then stable", async () => {
      const stateDir = join(dir, "fresh");
      const first = await runCli(["id", "--state-dir", stateDir]);
      assert.equal(first.code, EXIT_OK, describe(first));
      assert.match(first.stdout.trim(), PEER_ID_PATTERN);
      const file = join(stateDir, "node_keypair.bin");
      assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
      const again = await runCli(["id", "--state-dir", stateDir]);
      assert.equal(again.stdout.trim(), first.stdout.trim());
    });

    await t.step("corrupt: a runtime failure naming the file, which is left alone", async () => {
      // The config and command are fine, the node's state is not: exit 1, not 2
      // (docs/operations.md#exit-codes).
      const stateDir = join(dir, "corrupt");
      await Deno.mkdir(stateDir);
      const file = join(stateDir, "node_keypair.bin");
      const garbage = new TextEncoder().encode("not a libp2p key\n");
      await Deno.writeFile(file, garbage);
      const result = await runCli(["id", "--state-dir", stateDir]);
      assert.equal(result.code, EXIT_RUNTIME, describe(result));
      assert.equal(result.stdout, "");
      assert.ok(result.stderr.includes(file), result.stderr);
      assert.match(result.stderr, /corrupt/i);
      assert.deepEqual(await Deno.readFile(file), garbage);
    });
  });
});

Deno.test("permissions prints a narrow deno run line that is enough for id", async (t) => {
  await withTempDir(async (dir) => {
    const stateDir = join(dir, "state");
    await Deno.writeTextFile(
      join(dir, "proxy.yaml"),
      `state_dir: ${JSON.stringify(stateDir)}\nservers:\n  - protocol: socks5\n    port: 1080\n` +
        `    destination_peers: [${PINNED_PEER}]\n`,
    );
    const printed = await runCli(["permissions", "proxy", "-c", "proxy.yaml"], { cwd: dir });
    assert.equal(printed.code, EXIT_OK, describe(printed));
    const tokens = printed.stdout.trim().split(/\s+/);
    const entryAt = tokens.indexOf(CLI_MAIN);
    assert.ok(entryAt > 0, `the line does not run ${CLI_MAIN}: ${printed.stdout}`);
    const flags = tokens.slice(2, entryAt);

    await t.step("the line's shape", () => {
      assert.deepEqual(tokens.slice(0, 3), ["deno", "run", "--no-prompt"]);
      assert.deepEqual(tokens.slice(entryAt + 1), ["proxy", "-c", "proxy.yaml"]);
      for (const broad of ["-A", "--allow-all", "--allow-read", "--allow-write"]) {
        assert.ok(!flags.includes(broad), `${broad} is not least privilege: ${printed.stdout}`);
      }
      assert.ok(allowList(flags, "read")?.includes(stateDir), printed.stdout);
      assert.ok(allowList(flags, "read")?.includes("proxy.yaml"), printed.stdout);
      assert.ok(allowList(flags, "write")?.includes(stateDir), printed.stdout);
      // A list naming P2PROXY_*, or bare --allow-env when a loaded library enumerates the
      // environment (js-libp2p's logger calls Object.keys(process.env) at import).
      const env = flags.includes("--allow-env") || allowList(flags, "env")?.includes("P2PROXY_*");
      assert.ok(env, `no env permission for P2PROXY_*: ${printed.stdout}`);
    });

    await t.step("id runs under exactly those flags", async () => {
      const result = await runDeno(["run", ...flags, CLI_MAIN, "id", "--state-dir", stateDir], {
        cwd: dir,
      });
      assert.equal(result.code, EXIT_OK, describe(result));
      assert.match(result.stdout.trim(), PEER_ID_PATTERN);
      const file = join(stateDir, "node_keypair.bin");
      assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    });

    await t.step("and they are narrow: another state dir is out of reach", async () => {
      const elsewhere = join(dir, "elsewhere");
      const result = await runDeno(["run", ...flags, CLI_MAIN, "id", "--state-dir", elsewhere], {
        cwd: dir,
      });
      assert.equal(result.code, EXIT_RUNTIME, describe(result));
      assert.match(result.stderr, /Requires (read|write) access/);
      await assert.rejects(Deno.stat(elsewhere), Deno.errors.NotFound);
    });
  });
});
