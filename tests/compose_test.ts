/**
 * The composition root as a library (compose/mod.ts): a program builds a hub, an exit and a proxy
 * from code — no config file, no CLI — with the same config objects a config file loads into and
 * the built-in plugins, then carries a real curl through the proxy's SOCKS port, opens a
 * session through the proxy's router with no listener at all, and reads the exit control the
 * admin API and the terminal UI drive. In one process, on loopback.
 */
import assert from "node:assert/strict";
import { createRole } from "../compose/mod.ts";
import { loadExitConfig, loadHubConfig, loadProxyConfig } from "../core/config/mod.ts";
import { freePort } from "../scripts/cluster.ts";
import { libp2pSettled } from "./_libp2p.ts";
import { startHttpDestination } from "./_servers.ts";

/** Bound on the curl run and on every wait: a failure fails in seconds. */
const WAIT_MS = 15_000;

/** What every node here shares: loopback only, no metrics port, nothing written to disk. */
const NODE = {
  listen_addrs: ["/ip4/127.0.0.1/tcp/0"],
  metrics_port: 0,
  log_level: "error",
};
const IN_MEMORY = {
  "identity": "identity-memory",
  "sticky-store": "sticky-memory",
  "registry-store": "registry-memory",
  // Tests never ask the system's resolver (its DNS server is off the machine).
  "resolver": "resolver-static",
};

async function curlThrough(socksPort: number, url: string): Promise<{ code: number; out: string }> {
  const output = await new Deno.Command("curl", {
    args: [
      ...["--silent", "--show-error", "--max-time", `${WAIT_MS / 1000}`],
      ...["--socks5-hostname", `127.0.0.1:${socksPort}`, url],
    ],
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    out: decoder.decode(output.stdout) + decoder.decode(output.stderr),
  };
}

async function readAll(stream: { read(): Promise<Uint8Array | null> }): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read()) {
    text += decoder.decode(chunk, { stream: true });
  }
  return text;
}

Deno.test("a proxy built from code carries a curl through an exit found at a hub built the same way", async (t) => {
  const http = startHttpDestination();
  const socksPort = freePort();
  const json = (keys: Record<string, unknown>) => JSON.stringify({ ...NODE, ...keys });
  const running: { stop(): Promise<void> }[] = [];
  try {
    const hub = await createRole(
      "hub",
      loadHubConfig(json({ providers: IN_MEMORY }), { source: "hub (code)" }),
    );
    running.unshift(hub);
    const hubAddress = hub.network.addresses()[0]!;
    const exit = await createRole(
      "exit",
      loadExitConfig(
        json({
          bootstrap: [hubAddress],
          relay: "never",
          attributes: { country: "NL" },
          egress: { allow_cidrs: ["127.0.0.1/32"] },
          providers: IN_MEMORY,
        }),
        { source: "exit (code)" },
      ),
    );
    running.unshift(exit);
    await exit.whenRegistered(AbortSignal.timeout(WAIT_MS));
    const proxy = await createRole(
      "proxy",
      loadProxyConfig(
        json({
          bootstrap: [hubAddress],
          servers: [{ port: socksPort, country: "NL" }],
          providers: IN_MEMORY,
        }),
        { source: "proxy (code)" },
      ),
    );
    running.unshift(proxy);
    assert.equal(proxy.listeners[0]!.address.port, socksPort);

    await t.step("curl → SOCKS5 → proxy → exit → HTTP, and the answer comes back", async () => {
      const { code, out } = await curlThrough(socksPort, `http://127.0.0.1:${http.port}/whoami`);
      assert.equal(code, 0, out);
      assert.match(out, /^127\.0\.0\.1 \d+\n$/, "the destination's answer, whole");
      assert.equal(http.accepted, 1, "one connection reached the destination");
    });

    await t.step("the router opens a session with no listener in front of it", async () => {
      const outcome = await proxy.router.open({
        port: socksPort,
        host: "127.0.0.1",
        targetPort: http.port,
        sessionId: "from-code-1",
        signal: AbortSignal.timeout(WAIT_MS),
      });
      assert.ok(outcome.ok, outcome.ok ? "" : outcome.message);
      assert.equal(outcome.peerId, exit.network.peerId);
      await outcome.stream.write(
        new TextEncoder().encode("GET /whoami HTTP/1.0\r\nHost: x\r\n\r\n"),
      );
      await outcome.stream.closeWrite();
      const response = await readAll(outcome.stream);
      assert.match(response, /^HTTP\/1\.[01] 200 /);
      assert.match(response, /\r\n\r\n127\.0\.0\.1 \d+\n$/);
      assert.equal(http.accepted, 2);
    });

    await t.step("the exit control shows the listener's exit and the hub's candidate", async () => {
      const listeners = proxy.control.listeners();
      assert.deepEqual(listeners.map((l) => [l.name, l.port, l.exit?.peerId]), [
        [`mixed-${socksPort}`, socksPort, exit.network.peerId],
      ]);
      const report = await proxy.control.exits(AbortSignal.timeout(WAIT_MS));
      assert.deepEqual(report.problems, []);
      assert.deepEqual(
        report.candidates.map((c) => [c.peerId, c.attributes?.country, c.usedBy]),
        [[exit.network.peerId, "NL", [`mixed-${socksPort}`]]],
      );
    });
  } finally {
    for (const role of running) await role.stop();
    await http.close();
    await libp2pSettled();
  }
});
