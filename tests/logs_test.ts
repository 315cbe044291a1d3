/**
 * What the roles write to stderr, read from real processes: JSON lines that
 * parse, a hub that cannot be reached said once per attempt with its cause
 * and the next delay (no stack), a port in use said in one line naming the
 * address and the setting to change, each exit change said once, IPv6
 * targets in brackets, and a refusal by the exit's policy said as such.
 *
 * @module
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { aPeerId } from "../core/testing/builders.ts";
import { freePort, type NodeProcess, startExit, startHub, startProxy } from "../scripts/cluster.ts";
import { waitForLog } from "./_auth.ts";
import { CLI_MAIN, type CliResult, inParallel, runCli } from "./_cli.ts";
import { startEchoServer } from "./_servers.ts";
import { replyCodeFor } from "./_socks_client.ts";

/** Bound on waiting for a log line a process writes within a second or two. */
const LOG_WITHIN_MS = 15_000;
/** SOCKS reply "connection not allowed by ruleset" (RFC 1928). */
const SOCKS_NOT_ALLOWED = 0x02;
/** A line of a V8 stack trace, as Node-style errors paste them into messages. */
const STACK_FRAME = /^\s+at\s/m;

/** The keys every JSON log line has (logtape's JSON lines, properties nested as `fields`). */
const JSON_LINE_KEYS = ["@timestamp", "fields", "level", "logger", "message"];

/** Deno's own notice when several processes start at once (not a line p2proxy writes). */
const DENO_LOCK_NOTICE = /^Blocking waiting for file lock on /;

/** The lines p2proxy wrote to stderr. */
function ownLines(text: string): string[] {
  return text.split("\n").filter((line) => line !== "" && !DENO_LOCK_NOTICE.test(line));
}

/** Parses every line of `text` as one JSON log object; fails naming the first line that is not. */
function jsonLines(text: string, what: string): Record<string, unknown>[] {
  const lines = ownLines(text);
  assert.ok(lines.length > 0, `${what} wrote nothing`);
  return lines.map((line) => {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new assert.AssertionError({ message: `${what}: not a JSON line: ${line}` });
    }
    assert.deepEqual(Object.keys(parsed).sort(), JSON_LINE_KEYS, `${what}: ${line}`);
    assert.ok(!Number.isNaN(Date.parse(parsed["@timestamp"] as string)), line);
    assert.match(parsed.level as string, /^(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)$/, line);
    assert.match(parsed.logger as string, /^p2proxy(\.|$)/, line);
    assert.equal(typeof parsed.message, "string", line);
    assert.equal(typeof parsed.fields, "object", line);
    return parsed;
  });
}

/** A CLI process that keeps running (the demo): its stderr so far, and a way to stop it. */
interface CliProcess {
  logs(): string;
  stop(graceMs?: number): Promise<unknown>;
}

/** Starts `p2proxy <args>` with `env` added; SIGINT, then SIGKILL after `graceMs`, stops it. */
function launchCli(args: readonly string[], env: Record<string, string>): CliProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-prompt", CLI_MAIN, ...args],
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const decoder = new TextDecoder();
  const pump = (async () => {
    for await (const chunk of child.stderr) stderr += decoder.decode(chunk, { stream: true });
  })();
  let stopping: Promise<unknown> | undefined;
  return {
    logs: () => stderr,
    stop(graceMs = 5_000) {
      stopping ??= (async () => {
        const signal = (name: Deno.Signal) => {
          try {
            child.kill(name);
          } catch { /* already gone */ }
        };
        signal("SIGINT");
        const timer = setTimeout(() => signal("SIGKILL"), graceMs);
        try {
          await child.status;
          await pump;
        } finally {
          clearTimeout(timer);
        }
      })();
      return stopping;
    },
  };
}

async function stopAll(nodes: ReadonlyArray<{ stop(graceMs?: number): Promise<unknown> }>) {
  await Promise.all(nodes.map((node) => node.stop(5_000)));
}

Deno.test("--log-format json / P2PROXY_LOG_FORMAT=json: every stderr line is a JSON object", async () => {
  const nodes: NodeProcess[] = [];
  let demo: CliProcess | undefined;
  try {
    const env = { P2PROXY_LOG_FORMAT: "json" };
    const hub = await startHub({}, { env, logLevel: "debug" });
    nodes.push(hub);
    const exit = await startExit({ bootstrap: [hub.address] }, { env, logLevel: "debug" });
    nodes.push(exit);
    await waitForLog(exit, /"message":"Registered with hub/, LOG_WITHIN_MS);
    demo = launchCli([
      ...["demo", "--no-ui", "--log-format", "json"],
      ...["--port", String(freePort()), "--whoami-port", "0", "--metrics-port", "0"],
    ], { P2PROXY_LOG_FORMAT: "text" });
    await waitForLog(demo, /SOCKS5(?:\/SOCKS4\/HTTP)? listening/, LOG_WITHIN_MS);
    await stopAll([...nodes.splice(0), demo]);

    const hubLines = jsonLines(hub.logs(), "hub");
    const registered = hubLines.find((line) => /registered with/.test(line.message as string));
    assert.ok(registered, hub.logs());
    assert.equal((registered.fields as { peer: string }).peer, exit.peerId);
    assert.doesNotMatch(registered.message as string, /""/, "no empty value after the count");
    jsonLines(exit.logs(), "exit");
    const demoLines = jsonLines(demo.logs(), "demo (--log-format json over the env's text)");
    assert.ok(demoLines.some((line) => line.level === "WARN"), "warnings carry level WARN");
  } finally {
    await stopAll([...nodes, ...(demo ? [demo] : [])]);
  }
});

Deno.test("a hub nobody listens on: one warn line per attempt with cause and delay, no stack", async (t) => {
  const hub = `/ip4/127.0.0.1/tcp/${freePort()}/p2p/${aPeerId(7)}`;
  const nodes: NodeProcess[] = [];
  try {
    await t.step("the exit's registration: backoff 1 s, 2 s, 4 s, each said", async () => {
      const exit = await startExit({ bootstrap: [hub] }, { logLevel: "info" });
      nodes.push(exit);
      const attempt = /\[WRN\] .*Registering with hub \S+ failed: (.*)\. Retrying in (\d+) s\./g;
      await waitForLog(exit, /Retrying in 4 s\./, LOG_WITHIN_MS);
      const attempts = [...exit.logs().matchAll(attempt)];
      assert.deepEqual(attempts.map((m) => m[2]).slice(0, 3), ["1", "2", "4"], exit.logs());
      for (const [, cause] of attempts) assert.match(cause!, /ECONNREFUSED 127\.0\.0\.1:\d+/);
      assert.doesNotMatch(exit.logs(), STACK_FRAME);
      assert.doesNotMatch(exit.logs(), /faultTolerance/);
    });

    await t.step("the proxy's search for exits: the cause and when it asks again", async () => {
      const proxy = await startProxy({ servers: [{ port: freePort() }], bootstrap: [hub] }, {
        logLevel: "info",
      });
      nodes.push(proxy);
      const line = await waitForLog(
        proxy,
        /\[WRN\] .*The hub did not answer the search for exits: (.*)\. Asking again in 1 s\./,
        LOG_WITHIN_MS,
      );
      assert.match(line[1]!, /ECONNREFUSED 127\.0\.0\.1:\d+/);
      assert.doesNotMatch(proxy.logs(), STACK_FRAME);
    });
  } finally {
    await stopAll(nodes);
  }
});

Deno.test("a port in use: exit code 1 and one line naming the address and the setting", async () => {
  const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = held.addr.port;
  const dir = await Deno.makeTempDir({ prefix: "p2proxy-logs-in-use-" });
  try {
    const pinned = [`/ip4/127.0.0.1/tcp/${freePort()}/p2p/${aPeerId(3)}`];
    const base = { log_level: "error", listen_addrs: ["/ip4/127.0.0.1/tcp/0"], metrics_port: 0 };
    const configs: Record<string, Record<string, unknown>> = {
      "proxy-libp2p": {
        ...base,
        listen_addrs: [`/ip4/127.0.0.1/tcp/${port}`],
        servers: [{ port: freePort(), destination_peers: pinned }],
      },
      "proxy-socks": {
        ...base,
        servers: [
          { port: freePort(), destination_peers: pinned },
          { port, destination_peers: pinned },
        ],
      },
      "proxy-metrics": {
        ...base,
        metrics_port: port,
        servers: [{ port: freePort(), destination_peers: pinned }],
      },
      "exit": { ...base, listen_addrs: [`/ip4/127.0.0.1/tcp/${port}`] },
      "hub": { ...base, listen_addrs: [`/ip4/127.0.0.1/tcp/${port}`] },
      "auth-listen": { log_level: "error", listen: `127.0.0.1:${port}` },
      "auth-grpc": { log_level: "error", listen: "127.0.0.1:0", grpc_port: port },
    };
    const paths: Record<string, string> = {};
    for (const [name, config] of Object.entries(configs)) {
      paths[name] = `${dir}/${name}.yaml`;
      await Deno.writeTextFile(paths[name]!, stringify({ state_dir: `${dir}/${name}`, ...config }));
    }
    const cases: Array<{ args: string[]; address: string; key: string }> = [
      {
        args: ["proxy", "-c", paths["proxy-libp2p"]!],
        address: `/ip4/127.0.0.1/tcp/${port}`,
        key: "`listen_addrs`",
      },
      {
        args: ["proxy", "-c", paths["proxy-socks"]!],
        address: `127.0.0.1:${port}`,
        key: "`servers[1].port`",
      },
      {
        args: ["proxy", "-c", paths["proxy-metrics"]!],
        address: `127.0.0.1:${port}`,
        key: "`metrics_port`",
      },
      {
        args: ["exit", "-c", paths.exit!],
        address: `/ip4/127.0.0.1/tcp/${port}`,
        key: "`listen_addrs`",
      },
      {
        args: ["hub", "-c", paths.hub!],
        address: `/ip4/127.0.0.1/tcp/${port}`,
        key: "`listen_addrs`",
      },
      {
        args: ["auth", "serve", "-c", paths["auth-listen"]!],
        address: `127.0.0.1:${port}`,
        key: "`listen`",
      },
      {
        args: ["auth", "serve", "-c", paths["auth-grpc"]!],
        address: `127.0.0.1:${port}`,
        key: "`grpc_port`",
      },
      {
        args: [
          "demo",
          ...["--log-level", "error", "--port", String(port)],
          ...["--whoami-port", "0", "--metrics-port", "0"],
        ],
        address: `127.0.0.1:${port}`,
        key: "`--port`",
      },
    ];
    const [json, ...results] = await inParallel([
      () => runCli(["hub", "-c", paths.hub!, "--log-format", "json"]),
      ...cases.map((c) => () => runCli(c.args)),
    ]);
    cases.forEach((c, i) => {
      const result = results[i]!;
      const what = `${c.args.slice(0, 3).join(" ")}: ${describe(result)}`;
      assert.equal(result.code, 1, what);
      const lines = ownLines(result.stderr);
      assert.equal(lines.length, 1, what);
      assert.ok(lines[0]!.includes(c.address), what);
      assert.ok(lines[0]!.includes(c.key), what);
      assert.match(lines[0]!, /in use|using that address/, what);
      assert.doesNotMatch(lines[0]!, /faultTolerance|os error|\bat /, what);
    });

    const jsonResult = json!;
    assert.equal(jsonResult.code, 1, describe(jsonResult));
    const [fatal, ...more] = jsonLines(jsonResult.stderr, "hub --log-format json");
    assert.deepEqual(more, []);
    assert.equal(fatal!.level, "FATAL");
    assert.match(fatal!.message as string, new RegExp(`tcp/${port}\\b.*\`listen_addrs\``));
    assert.deepEqual(fatal!.fields, { exitCode: 1, code: "address-in-use" });
  } finally {
    held.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("exit changes are logged once each; IPv6 targets in brackets; policy denials say so", async () => {
  const echo = startEchoServer();
  const nodes: NodeProcess[] = [];
  try {
    // Loopback v4 is allowed, [::1] is not: a denial by the exit's egress policy.
    const egress = { egress: { allow_cidrs: ["127.0.0.0/8"] } };
    const [first, second] = await Promise.all([
      startExit(egress, { logLevel: "info" }),
      startExit(egress, { logLevel: "info" }),
    ]);
    nodes.push(first, second);
    const socksPort = freePort();
    const proxy = await startProxy({
      servers: [{ port: socksPort, destination_peers: [first.address, second.address] }],
    }, { logLevel: "info" });
    nodes.push(proxy);
    const changes = (text: string) =>
      text.split("\n").filter((line) => /exits through|leaves through/.test(line));

    await waitForLog(proxy, new RegExp(`now leaves through ${first.peerId}`), LOG_WITHIN_MS);
    assert.equal(
      await replyCodeFor({ proxyPort: socksPort, host: "::1", port: echo.port }),
      SOCKS_NOT_ALLOWED,
    );
    const target = `\\[::1\\]:${echo.port}`;
    await waitForLog(
      proxy,
      new RegExp(`\\[WRN\\] .*CONNECT ${target} on port ${socksPort} denied by policy at exit`),
      LOG_WITHIN_MS,
    );
    await waitForLog(first, new RegExp(`Refused ${target} for ${proxy.peerId}: .*policy`), 5_000);
    assert.doesNotMatch(proxy.logs() + first.logs(), /(^|[^[\d])::1:\d/m, "an unbracketed ::1");
    assert.doesNotMatch(proxy.logs(), /failed \(.?refused/);

    await first.kill();
    await waitForLog(proxy, new RegExp(`now leaves through ${second.peerId}`), LOG_WITHIN_MS);
    const lines = changes(proxy.logs());
    assert.equal(lines.length, 2, `one line per change:\n${lines.join("\n")}`);
  } finally {
    await stopAll(nodes);
    await echo.close();
  }
});

function describe(result: CliResult): string {
  return `code ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
}
