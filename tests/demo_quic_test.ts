/**
 * The demo uses the fast carrier where both sides have it (issue "A data plane at shadowsocks
 * speed"): its proxy carries sessions to both exits over pooled TLS connections (the QUIC
 * plugin's certificate and tickets), and its admin API says so. Real nodes in this
 * process, curl as the SOCKS client, the demo's own whoami server as the destination.
 */
import assert from "node:assert/strict";
import { createRole, type DemoRole } from "../compose/mod.ts";
import { freePort, freePortPair } from "../scripts/cluster.ts";
import { libp2pSettled } from "./_libp2p.ts";

async function curlThrough(socksPort: number, url: string): Promise<string> {
  const output = await new Deno.Command("curl", {
    args: [
      "--silent",
      "--show-error",
      "--max-time",
      "10",
      "--socks5-hostname",
      `127.0.0.1:${socksPort}`,
      url,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  assert.ok(output.success, `curl failed: ${new TextDecoder().decode(output.stderr)}`);
  return text;
}

Deno.test("the demo carries its sessions over TLS connections, and its admin API names the transport", async () => {
  // The demo binds socksPort and the next one: both must be free, and the admin port neither.
  const socksPort = freePortPair();
  let adminPort = freePort();
  while (adminPort === socksPort || adminPort === socksPort + 1) adminPort = freePort();
  const demo: DemoRole = await createRole("demo", {
    socksPort,
    whoamiPort: 0,
    metricsPort: 0,
    metricsBind: "127.0.0.1",
    adminPort,
    providers: { resolver: "@p2proxy/resolver-static" },
  });
  try {
    const whoami = `http://127.0.0.1:${demo.whoamiPort}/`;
    for (const server of demo.servers) {
      assert.match(await curlThrough(server.port, whoami), /you came from 127\.0\.0\./);
    }
    const response = await fetch(`${demo.adminUrl}/v1/listeners`, {
      signal: AbortSignal.timeout(5_000),
    });
    const body = await response.json() as {
      listeners: { port: number; exit: { transport: string | null } | null }[];
    };
    assert.equal(body.listeners.length, demo.servers.length);
    for (const listener of body.listeners) assert.equal(listener.exit?.transport, "tls");
  } finally {
    await demo.stop();
    await libp2pSettled();
  }
});
