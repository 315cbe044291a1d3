import assert from "node:assert/strict";
import { loadProxyConfig } from "../core/config/proxy_config.ts";
import fc from "fast-check";
import { shellWords } from "../scripts/cluster.ts";
import { rolePermissions, shellQuote } from "./role_permissions.ts";

Deno.test("a quoted line reads back as the same words, whatever they hold", () => {
  fc.assert(
    fc.property(fc.array(fc.string({ unit: "binary" }), { minLength: 1 }), (words) => {
      assert.deepEqual(shellWords(words.map(shellQuote).join(" ")), words);
    }),
  );
});

Deno.test("plain flags stay unquoted; globs, spaces and quotes are quoted", () => {
  assert.equal(shellQuote("--allow-read=/tmp/a,deno.json"), "--allow-read=/tmp/a,deno.json");
  assert.equal(shellQuote("--allow-env=P2PROXY_*"), "'--allow-env=P2PROXY_*'");
  assert.equal(shellQuote("my state"), "'my state'");
  assert.equal(shellQuote("it's"), `'it'\\''s'`);
});

Deno.test("a hard-pinned proxy may dial its exits' TLS port (TCP port + 1) unless tls or quic is never", () => {
  const pinned = "/ip4/127.0.0.9/tcp/4001/p2p/12D3KooWS6M2cP13vSHoPXVYbmYvhFgZowNrwyy7VkvbEUgXiXGZ";
  const netOf = (extra: string) => {
    const config = loadProxyConfig(
      `listen_addrs: []\nmetrics_port: 0\n${extra}servers:\n` +
        `  - { port: 8080, protocol: http, destination_peers: ["${pinned}"] }\n`,
      { source: "Config.yaml" },
    );
    return [...(rolePermissions({ role: "proxy", config }, "Config.yaml").net ?? [])].sort();
  };
  assert.deepEqual(netOf(""), ["127.0.0.1:8080", "127.0.0.9:4001", "127.0.0.9:4002"]);
  assert.deepEqual(netOf("tls: never\n"), ["127.0.0.1:8080", "127.0.0.9:4001"]);
  assert.deepEqual(netOf("quic: never\n"), ["127.0.0.1:8080", "127.0.0.9:4001"]);
});
