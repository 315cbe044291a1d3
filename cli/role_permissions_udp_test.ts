/**
 * A hard-pinned proxy's `--allow-net` list covers the UDP ASSOCIATE relay socket: the bind host of
 * each port that serves SOCKS5, with every port (the relay binds one the OS chooses and replies to
 * the client from it).
 */
import assert from "node:assert/strict";
import { loadProxyConfig } from "../core/config/proxy_config.ts";
import { rolePermissions } from "./role_permissions.ts";

const PINNED = "/ip4/127.0.0.9/tcp/4001/p2p/12D3KooWS6M2cP13vSHoPXVYbmYvhFgZowNrwyy7VkvbEUgXiXGZ";

function netOf(servers: string): readonly string[] {
  const config = loadProxyConfig(
    `listen_addrs: []\nmetrics_port: 0\nservers:\n${servers}`,
    { source: "Config.yaml" },
  );
  return rolePermissions({ role: "proxy", config }, "Config.yaml").net ?? [];
}

Deno.test("a hard-pinned proxy's net list covers the UDP relay socket's host on SOCKS5 ports", () => {
  const net = netOf(
    `  - { port: 1080, destination_peers: ["${PINNED}"] }\n` +
      `  - { port: 1081, protocol: socks5, bind: "::1", destination_peers: ["${PINNED}"] }\n` +
      `  - { port: 1082, protocol: http, bind: 127.0.0.2, destination_peers: ["${PINNED}"] }\n`,
  );
  assert.deepEqual([...new Set(net)].sort(), [
    "127.0.0.1",
    "127.0.0.1:1080",
    "127.0.0.2:1082",
    "127.0.0.9:4001",
    "127.0.0.9:4002",
    "[::1]",
    "[::1]:1081",
  ]);
});

Deno.test("a proxy serving no SOCKS5 gets no relay host; discovery still gets the whole network", () => {
  const httpOnly = netOf(`  - { port: 8080, protocol: http, destination_peers: ["${PINNED}"] }\n`);
  assert.deepEqual([...httpOnly].sort(), ["127.0.0.1:8080", "127.0.0.9:4001", "127.0.0.9:4002"]);
  assert.deepEqual(
    netOf(`  - { port: 1080, destination_peers: ["${PINNED}"], fallback_to_discovery: true }\n`),
    ["*"],
  );
});
