/**
 * Several proxy processes on one quota store count one total (docs/limits.md#shared-quota): two
 * real proxies whose ports share a `quota_scope`, both on one Deno KV quota database, a 5 MB quota;
 * 3 MB through proxy A and 3 MB through proxy B, then B refuses the next connection (SOCKS5 02,
 * HTTP 403) and so does A once it has read the shared total.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Cluster, curlVia, freePort, pollUntil, startWhoami } from "./_network.ts";
import { openSocks, SocksReplyError } from "./_socks_client.ts";

const ALICE = { username: "alice", password: "alice-password" };
const PROXY_USER = ["--proxy-user", `${ALICE.username}:${ALICE.password}`];
const CURL_TIMEOUT_SECS = 30;
/** Bound on a proxy finding its exit. */
const READY_MS = 30_000;
/** Bound on a count reaching the store and the other proxy (one sync a second). */
const SHARED_MS = 10_000;

/** The SOCKS5 reply code of a CONNECT as alice through `port` (0: succeeded). */
async function socksReply(port: number, target: number): Promise<number> {
  try {
    const session = await openSocks({
      proxyPort: port,
      host: "127.0.0.1",
      port: target,
      auth: ALICE,
    });
    session.reader.close();
    return 0;
  } catch (error) {
    if (error instanceof SocksReplyError) return error.reply.code;
    throw error;
  }
}

/** The HTTP status curl gets for `url` through `port` as an HTTP proxy, as alice. */
async function httpStatus(port: number, url: string): Promise<string> {
  const output = await new Deno.Command("curl", {
    args: [
      "--silent",
      "--max-time",
      "10",
      "--output",
      "/dev/null",
      "--write-out",
      "%{http_code}",
      "--proxy",
      `http://127.0.0.1:${port}`,
      ...PROXY_USER,
      url,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(output.stdout);
}

Deno.test("limits: two proxies on one Deno KV quota store refuse once 5 MB went through both together", async () => {
  const cluster = new Cluster();
  const whoami = startWhoami();
  const shared = await Deno.makeTempDir({ prefix: "p2proxy-shared-quota-" });
  try {
    const exit = await cluster.exit("127.0.0.2", undefined);
    const quotaStore = {
      providers: { "quota-store": "@p2proxy/quota-kv" },
      plugins: { "@p2proxy/quota-kv": { path: join(shared, "quota.kv") } },
    };
    const serverOn = (port: number) => ({
      port,
      destination_peers: [exit.address],
      users: [ALICE],
      limits: { quota: { bytes: "5MB", period: "day" }, quota_scope: "shared-pool" },
    });
    const portA = freePort();
    const portB = freePort();
    const proxyA = await cluster.proxy(undefined, { ...quotaStore, servers: [serverOn(portA)] });
    const proxyB = await cluster.proxy(undefined, { ...quotaStore, servers: [serverOn(portB)] });
    const url = `${whoami.url}bytes/${3_000_000}`;
    const download = (port: number) =>
      pollUntil(
        async () => {
          const result = await curlVia(port, url, CURL_TIMEOUT_SECS, PROXY_USER);
          return result.code === 0 ? result : undefined;
        },
        READY_MS,
        `a download through port ${port}`,
      );

    await download(portA);
    // B serves alice (its first session reads her 3 MB from the store), and carries 3 MB more.
    await pollUntil(
      async () => (await socksReply(portB, whoami.port)) === 0 || undefined,
      SHARED_MS,
      "B serving alice under the quota",
    );
    await download(portB);
    await pollUntil(
      async () => (await socksReply(portB, whoami.port)) === 0x02 || undefined,
      SHARED_MS,
      "B refusing alice over the shared quota",
    ).catch((error) => {
      throw new Error(`${error}\n${cluster.logs()}`);
    });
    assert.equal(await httpStatus(portB, whoami.url), "403", "the HTTP door says quota exceeded");
    assert.match(proxyB.logs(), /"alice" has used its quota of 5MB per day on port/);
    // A has carried only 3 MB itself: it refuses because it reads B's bytes from the store.
    await pollUntil(
      async () => (await socksReply(portA, whoami.port)) === 0x02 || undefined,
      SHARED_MS,
      "A refusing alice over the shared quota",
    );
    assert.equal(await httpStatus(portA, whoami.url), "403");
    assert.match(proxyA.logs(), /"alice" has used its quota of 5MB per day on port/);
  } finally {
    await cluster.close();
    await whoami.close();
    await Deno.remove(shared, { recursive: true });
  }
});
