/**
 * SPEC §11: each role runs under exactly the flags `p2proxy permissions`
 * prints for its config, with `--no-prompt`, and moves bytes.
 */
import assert from "node:assert/strict";
import {
  freePort,
  type NodeProcess,
  permissionFlags,
  startExit,
  startHub,
  startProxy,
  waitForPort,
} from "../scripts/cluster.ts";
import { addApiKey } from "./_auth.ts";

const CLI = new URL("../cli/main.ts", import.meta.url).pathname;

const encoder = new TextEncoder();

/** A well-formed peer id to pin: the config must give its server a route; nothing dials it. */
const PINNED_PEER = "12D3KooWS6M2cP13vSHoPXVYbmYvhFgZowNrwyy7VkvbEUgXiXGZ";

Deno.test("proxy and exit run under exactly the printed permissions and relay a request", async () => {
  const body = "hello through least privilege";
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(body),
  );
  const nodes: NodeProcess[] = [];
  try {
    const exit = await startExit({ egress: { allow_cidrs: ["127.0.0.1/32"] } }, {
      leastPrivilege: true,
    });
    nodes.push(exit);
    const socksPort = freePort();
    const proxy = await startProxy(
      { servers: [{ port: socksPort, destination_peers: [exit.address] }] },
      { leastPrivilege: true },
    );
    nodes.push(proxy);
    const url = `http://127.0.0.1:${(http.addr as Deno.NetAddr).port}/`;
    let text = "";
    // The proxy may still be dialling its exit when its port opens.
    for (let attempt = 0; attempt < 20 && text !== body; attempt++) {
      const output = await new Deno.Command("curl", {
        args: ["-sS", "--max-time", "5", "--socks5-hostname", `127.0.0.1:${socksPort}`, url],
        stdout: "piped",
        stderr: "piped",
      }).output();
      text = new TextDecoder().decode(output.stdout);
      if (text !== body) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.equal(text, body);
    assert.doesNotMatch(proxy.logs() + exit.logs(), /NotCapable/);
  } finally {
    for (const node of nodes.reverse()) await node.stop();
    await http.shutdown();
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
  const dir = await Deno.makeTempDir({ prefix: "p2proxy-lp-auth-" });
  const nodes: NodeProcess[] = [];
  let auth: Deno.ChildProcess | undefined;
  try {
    const authPort = freePort();
    const authConfig = `${dir}/Auth.yaml`;
    await Deno.writeTextFile(
      authConfig,
      `listen: 127.0.0.1:${authPort}\nstate_dir: ${dir}\nnetwork_id: lab\n`,
    );
    const proxyKey = await addApiKey(authConfig, "proxy", "proxy");
    const exitKey = await addApiKey(authConfig, "exit", "exit");
    const authFlags = await permissionFlags("auth", authConfig);
    assert.ok(authFlags.includes(`--allow-net=127.0.0.1:${authPort}`), authFlags.join(" "));
    auth = new Deno.Command(Deno.execPath(), {
      args: ["run", ...authFlags, "--no-prompt", CLI, "auth", "serve", "-c", authConfig],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitForPort(authPort, 20_000);

    const section = { provider: "connect", url: `http://127.0.0.1:${authPort}`, network_id: "lab" };
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
    let text = "";
    for (let attempt = 0; attempt < 40 && text !== body; attempt++) {
      const output = await new Deno.Command("curl", {
        args: ["-sS", "--max-time", "5", "--socks5-hostname", `127.0.0.1:${socksPort}`, url],
        stdout: "piped",
        stderr: "piped",
      }).output();
      text = new TextDecoder().decode(output.stdout);
      if (text !== body) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.equal(text, body);
    for (const node of nodes) assert.doesNotMatch(node.logs(), /NotCapable|Requires \w+ access/);
  } finally {
    for (const node of nodes.reverse()) await node.stop();
    if (auth) {
      auth.kill("SIGINT");
      await auth.status;
    }
    await http.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
