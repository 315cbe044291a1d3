/**
 * docs/plugins.md#permissions: every long-running command (proxy, exit,
 * hub, auth serve, demo) runs under exactly the line `p2proxy permissions`
 * prints for its config — word for word, from the folder it is printed in,
 * with `--no-prompt` — and carries a connection; nothing asks for more.
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import {
  freePort,
  freePortPair,
  type LaunchedRole,
  launchPrintedLine,
  type NodeProcess,
  peerIdOf,
  permissionFlags,
  printedPermissionLine,
  shellWords,
  startExit,
  startHub,
  startProxy,
  waitUntilListening,
} from "../scripts/cluster.ts";
import { addApiKey } from "./_auth.ts";
import { encodeUdpDatagram, parseUdpDatagram } from "../core/codec/socks5_udp.ts";
import { AUTH_METHOD, SOCKS_REPLY } from "../core/codec/socks5.ts";
import { connectLocal, ConnReader, greet, request } from "./_socks_client.ts";

const encoder = new TextEncoder();

/** A well-formed peer id to pin: the config must give its server a route; nothing dials it. */
const PINNED_PEER = "12D3KooWS6M2cP13vSHoPXVYbmYvhFgZowNrwyy7VkvbEUgXiXGZ";

/**
 * One UDP ASSOCIATE through `proxyPort` (no auth): a datagram to a UDP echo on 127.0.0.1 and its
 * answer's text, both through the relay socket the proxy binds on its port's host.
 */
async function udpRoundTrip(proxyPort: number, payload: string): Promise<string> {
  const echo = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const reader = new ConnReader(await connectLocal(proxyPort));
  const echoing = echo.receive().then(([data, from]) => echo.send(data, from)).catch(() => 0);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    assert.equal(await greet(reader, [AUTH_METHOD.noAuth]), AUTH_METHOD.noAuth);
    const reply = await request(reader, { command: "udp-associate", host: "0.0.0.0", port: 0 });
    assert.equal(reply.code, SOCKS_REPLY.succeeded, "UDP ASSOCIATE answered success");
    const relay: Deno.NetAddr = { transport: "udp", hostname: reply.host, port: reply.port };
    const echoPort = (echo.addr as Deno.NetAddr).port;
    await client.send(
      encodeUdpDatagram({ host: "127.0.0.1", port: echoPort, data: encoder.encode(payload) }),
      relay,
    );
    const answer = await Promise.race([
      client.receive(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("no UDP answer within 10 s")), 10_000);
      }),
    ]);
    return new TextDecoder().decode(parseUdpDatagram(answer[0]).data);
  } finally {
    clearTimeout(timer);
    reader.close();
    client.close();
    echo.close();
    await echoing;
  }
}

/** What a process prints when Deno refused it a permission. */
const ASKED_FOR_MORE = /NotCapable|Requires \w+ access/;

/** A role in a folder of its own: its config file there, its line printed and run there. */
interface RoleFolder {
  readonly dir: string;
  /** The config file's name, relative to `dir` (as the printed line names it). */
  readonly config: string;
}

async function roleFolder(
  root: string,
  name: string,
  config: Record<string, unknown>,
): Promise<RoleFolder> {
  const dir = `${root}/${name}`;
  await Deno.mkdir(dir);
  await Deno.writeTextFile(`${dir}/${name}.yaml`, stringify(config));
  return { dir, config: `${name}.yaml` };
}

/** Prints the line for `args` in `folder` and runs exactly it there. */
async function runPrinted(
  folder: RoleFolder,
  args: readonly string[],
  started: LaunchedRole[],
): Promise<{ line: string; role: LaunchedRole }> {
  const line = await printedPermissionLine([...args, "-c", folder.config], { cwd: folder.dir });
  const role = launchPrintedLine(line, { cwd: folder.dir });
  started.push(role);
  return { line, role };
}

/** Bound on a port finding its exit and carrying a request (hub lookups, relay reservations). */
const ROUTED_WITHIN_MS = 40_000;

/** curl through a SOCKS port until `expected` comes back (the port may still be finding its exit). */
async function curlUntil(socksPort: number, url: string, expected: RegExp): Promise<string> {
  const deadline = Date.now() + ROUTED_WITHIN_MS;
  let text = "";
  while (!expected.test(text) && Date.now() < deadline) {
    const output = await new Deno.Command("curl", {
      args: ["-sS", "--max-time", "5", "--socks5-hostname", `127.0.0.1:${socksPort}`, url],
      stdout: "piped",
      stderr: "piped",
    }).output();
    text = new TextDecoder().decode(output.stdout);
    if (!expected.test(text)) await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return text;
}

function flagsOf(line: string): string[] {
  return shellWords(line).filter((word) => word.startsWith("--allow-"));
}

function stopAll(roles: readonly LaunchedRole[]): Promise<unknown> {
  return Promise.all([...roles].reverse().map((role) => role.stop()));
}

Deno.test("hub, exit and proxy run under exactly their printed lines with minimal configs, and carry a request", async () => {
  const body = "hello through the printed lines";
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(body),
  );
  const url = `http://127.0.0.1:${(http.addr as Deno.NetAddr).port}/`;
  const root = await Deno.makeTempDir({ prefix: "p2proxy-lp-defaults-" });
  const started: LaunchedRole[] = [];
  try {
    // Only what each role strictly needs; no state_dir (the default "." is the folder) and no
    // listen_addrs (the wildcard defaults). Fixed ports of the defaults move to free ones so
    // that parallel tests do not collide: `port` keeps the hub's 0.0.0.0. The wildcard listens
    // on every interface, so each node announces its loopback address only: tests never send a
    // packet beyond 127.0.0.0/8, not even to this host's own interface addresses.
    const hubPort = freePort();
    const hub = await roleFolder(root, "hub", {
      port: hubPort,
      announce_addrs: [`/ip4/127.0.0.1/tcp/${hubPort}`],
      metrics_port: freePort(),
    });
    const hubAddress = `/ip4/127.0.0.1/tcp/${hubPort}/p2p/${await peerIdOf(hub.dir)}`;
    const hubRun = await runPrinted(hub, ["hub"], started);
    await waitUntilListening(hubRun.role, hubPort, "hub");

    const exitPort = freePort();
    const exit = await roleFolder(root, "exit", {
      bootstrap: [hubAddress],
      port: exitPort,
      announce_addrs: [`/ip4/127.0.0.1/tcp/${exitPort}`],
      // A real exit denies loopback; the test's HTTP server is there.
      egress: { allow_cidrs: ["127.0.0.1/32"] },
      metrics_port: freePort(),
    });
    const exitId = await peerIdOf(exit.dir);
    const exitRun = await runPrinted(exit, ["exit"], started);

    const socksPort = freePort();
    const proxy = await roleFolder(root, "proxy", {
      bootstrap: [hubAddress],
      servers: [{ port: socksPort }],
      metrics_port: freePort(),
    });
    const proxyRun = await runPrinted(proxy, ["proxy"], started);
    await waitUntilListening(proxyRun.role, socksPort, "proxy");

    // Dial-only: a proxy that listens nowhere needs no interface list and still routes, here
    // through the hub's relay (the exit, announcing no public address, reserved a slot there).
    const dialOnlyPort = freePort();
    const relayed = `${hubAddress}/p2p-circuit/p2p/${exitId}`;
    const dialOnly = await roleFolder(root, "dial-only", {
      listen_addrs: [],
      servers: [{ port: dialOnlyPort, destination_peers: [relayed] }],
      metrics_port: 0,
    });
    const dialOnlyRun = await runPrinted(dialOnly, ["proxy"], started);
    await waitUntilListening(dialOnlyRun.role, dialOnlyPort, "dial-only proxy");

    // The wildcard defaults need the interface list, and only that part of sys.
    for (const { line } of [hubRun, exitRun, proxyRun]) {
      assert.deepEqual(flagsOf(line).filter((f) => f.startsWith("--allow-sys")), [
        "--allow-sys=networkInterfaces",
      ], line);
    }
    // Pinned verbatim: its net grant is a list, not the whole network.
    const netAndSys = flagsOf(dialOnlyRun.line).filter((f) => /^--allow-(sys|net)/.test(f));
    assert.deepEqual(
      netAndSys.map((flag) => flag.split(/[=,]/).sort()),
      // The bare host covers the UDP ASSOCIATE relay socket (a port the OS picks) and its replies.
      [["--allow-net", "127.0.0.1", `127.0.0.1:${dialOnlyPort}`, `127.0.0.1:${hubPort}`].sort()],
      dialOnlyRun.line,
    );

    assert.equal(await curlUntil(socksPort, url, new RegExp(body)), body);
    assert.equal(await curlUntil(dialOnlyPort, url, new RegExp(body)), body);
    assert.equal(
      await udpRoundTrip(dialOnlyPort, "udp under the printed line"),
      "udp under the printed line",
    );
    for (const role of started) assert.doesNotMatch(role.logs(), ASKED_FOR_MORE);
    assert.match(dialOnlyRun.role.logs(), /listening on \(no addresses\)/);
    assert.match(
      dialOnlyRun.role.logs(),
      new RegExp(`Connected to ${exitId} at \\S*p2p-circuit`),
    );
  } finally {
    await stopAll(started);
    await http.shutdown();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the demo runs under exactly its printed line, writes no file, and both exits carry requests", async () => {
  const root = await Deno.makeTempDir({ prefix: "p2proxy-lp-demo-" });
  const started: LaunchedRole[] = [];
  try {
    const socksPort = freePortPair();
    const whoamiPort = freePort();
    const metricsPort = freePort();
    const adminPort = freePort();
    const args = ["demo", "--port", `${socksPort}`, "--whoami-port", `${whoamiPort}`];
    const ports = ["--metrics-port", `${metricsPort}`, "--admin-port", `${adminPort}`];
    const line = await printedPermissionLine([...args, ...ports], { cwd: root });
    assert.ok(line.endsWith(`${[...args, ...ports].join(" ")}`), line);
    const demo = launchPrintedLine(line, { cwd: root });
    started.push(demo);
    await waitUntilListening(demo, socksPort + 1, "demo", 30_000);
    // The exits leave from 127.0.0.2 and 127.0.0.3 where the system lets them bind (Linux).
    const [nl, de] = Deno.build.os === "linux"
      ? ["127.0.0.2", "127.0.0.3"]
      : ["127.0.0.1", "127.0.0.1"];
    const whoami = `http://127.0.0.1:${whoamiPort}/`;
    assert.match(await curlUntil(socksPort, whoami, /you came from/), new RegExp(`from ${nl}\\b`));
    assert.match(
      await curlUntil(socksPort + 1, whoami, /you came from/),
      new RegExp(`from ${de}\\b`),
    );
    const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /p2proxy_/);
    // --admin-port: the admin API, behind the same Host guard as the proxy's.
    const admin = `http://127.0.0.1:${adminPort}/v1/listeners`;
    const listeners = await (await fetch(admin)).json();
    assert.deepEqual(
      listeners.listeners.map((l: { name: string }) => l.name),
      [`mixed-${socksPort}`, `mixed-${socksPort + 1}`],
    );
    const cross = await fetch(admin, { headers: { origin: "http://evil.example" } });
    assert.equal(cross.status, 403);
    await cross.body?.cancel();
    await demo.stop();
    assert.doesNotMatch(demo.logs(), ASKED_FOR_MORE);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(root)), [], "the demo wrote a file");
  } finally {
    await stopAll(started);
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("--npx prints the same command through the Deno release the project pins", async () => {
  const root = await Deno.makeTempDir({ prefix: "p2proxy-lp-npx-" });
  try {
    const ciScript = await Deno.readTextFile(new URL("../.ci/run", import.meta.url));
    const pinned = /npx -y (deno@\d+\.\d+\.\d+) task test/.exec(ciScript)?.[1];
    assert.ok(pinned, "no pinned deno in .ci/run");
    const proxy = await roleFolder(root, "proxy", {
      servers: [{ port: 1080, destination_peers: [PINNED_PEER] }],
      state_dir: "my state",
    });
    for (const args of [["proxy", "-c", proxy.config], ["demo"]]) {
      const deno = shellWords(await printedPermissionLine(args, { cwd: proxy.dir }));
      const npx = shellWords(await printedPermissionLine([...args, "--npx"], { cwd: proxy.dir }));
      assert.deepEqual(deno.slice(0, 2), ["deno", "run"]);
      assert.deepEqual(npx.slice(0, 4), ["npx", "-y", pinned, "run"]);
      assert.deepEqual(npx.slice(3), deno.slice(1));
    }
    // A path with a space survives the shell as one word.
    const line = await printedPermissionLine(["proxy", "-c", proxy.config], { cwd: proxy.dir });
    assert.ok(line.includes(`'--allow-write=my state'`), line);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the printed permissions are narrow: a read outside them is refused with NotCapable", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p2proxy-lp-" });
  const outside = await Deno.makeTempFile({ prefix: "p2proxy-outside-" });
  try {
    const config = `${dir}/proxy.yaml`;
    await Deno.writeTextFile(
      config,
      `state_dir: ${dir}\nservers:\n  - port: ${freePort()}\n    destination_peers: [${PINNED_PEER}]\n`,
    );
    const flags = await permissionFlags("proxy", config);
    assert.ok(flags.some((f) => f.startsWith("--allow-read=") && f.includes(dir)), flags.join(" "));
    const probe = `${dir}/probe.ts`;
    await Deno.writeFile(
      probe,
      encoder.encode(
        `try { await Deno.readTextFile(${JSON.stringify(outside)}); console.log("read"); } ` +
          `catch (e) { console.log(e.name); }\n` +
          `await Deno.readTextFile(${JSON.stringify(config)}); console.log("config ok");\n`,
      ),
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, "--no-prompt", probe],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.deepEqual(new TextDecoder().decode(output.stdout).trim().split("\n"), [
      "NotCapable",
      "config ok",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(outside);
  }
});

Deno.test("a whole network runs under the printed permissions: auth service, hub, exit and proxy", async () => {
  const body = "found through the hub, with tokens";
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(body),
  );
  const root = await Deno.makeTempDir({ prefix: "p2proxy-lp-auth-" });
  const nodes: NodeProcess[] = [];
  const started: LaunchedRole[] = [];
  try {
    // The auth service with a minimal file: its port moved off the fixed default.
    const authPort = freePort();
    const auth = await roleFolder(root, "auth", { listen: `127.0.0.1:${authPort}` });
    const proxyKey = await addApiKey(`${auth.dir}/${auth.config}`, "proxy", "proxy");
    const exitKey = await addApiKey(`${auth.dir}/${auth.config}`, "exit", "exit");
    const authRun = await runPrinted(auth, ["auth"], started);
    assert.ok(flagsOf(authRun.line).includes(`--allow-net=127.0.0.1:${authPort}`), authRun.line);
    await waitUntilListening(authRun.role, authPort, "auth serve");

    const section = { provider: "connect", url: `http://127.0.0.1:${authPort}` };
    const hub = await startHub({ auth: section }, { leastPrivilege: true });
    nodes.push(hub);
    const exit = await startExit(
      {
        bootstrap: [hub.address],
        api_key: exitKey,
        auth: section,
        relay: "never",
        egress: { allow_cidrs: ["127.0.0.1/32"] },
      },
      { leastPrivilege: true },
    );
    nodes.push(exit);
    const socksPort = freePort();
    const proxy = await startProxy(
      {
        bootstrap: [hub.address],
        api_key: proxyKey,
        auth: section,
        servers: [{ port: socksPort }],
      },
      { leastPrivilege: true },
    );
    nodes.push(proxy);
    const url = `http://127.0.0.1:${(http.addr as Deno.NetAddr).port}/`;
    assert.equal(await curlUntil(socksPort, url, new RegExp(body)), body);
    for (const node of [...nodes, ...started]) assert.doesNotMatch(node.logs(), ASKED_FOR_MORE);
  } finally {
    for (const node of nodes.reverse()) await node.stop();
    await stopAll(started);
    await http.shutdown();
    await Deno.remove(root, { recursive: true });
  }
});
