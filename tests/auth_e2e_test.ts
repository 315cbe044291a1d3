/**
 * Authentication end to end (docs/authentication.md), with real processes on loopback:
 * `p2proxy auth serve` (keys made by `auth add-key`), a hub and an exit that
 * verify tokens, proxies that fetch them, and curl through the proxies.
 *
 * - the connect provider over each transport (Connect, gRPC-web, gRPC);
 * - a bad API key ends the proxy (or exit) with code 1, naming where the key
 *   came from; a service that is down at start is retried with backoff;
 * - 3 s tokens: sessions and exit registrations carry on across refreshes;
 * - tokens misused by another peer, for the wrong role, or tampered with are
 *   refused by the exit (NOT_ALLOWED) and by the hub (an error answer),
 *   presented by an in-process libp2p peer;
 * - a static-token network works, and a wrong token gets SOCKS reply 02 and a
 *   warn line in the proxy's log.
 *
 * One auth service, hub and exit serve every step of the first test.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  freePort,
  type NodeProcess,
  startExit,
  startHub,
  startProxy,
  waitForPort,
} from "../scripts/cluster.ts";
import { FileIdentity } from "../plugins/identity-file/file_identity.ts";
import {
  type AuthServe,
  ConnectStatus,
  curlVia,
  ErrorCode,
  exitCodeWithin,
  firstCurlVia,
  type HubAnswer,
  issueToken,
  type RoleProcess,
  sleep,
  socksReplyCode,
  spawnRole,
  startAuthServe,
  startTestPeer,
  startWhoami,
  tamperWith,
  type TestPeer,
  waitForLog,
  type Whoami,
} from "./_auth.ts";

/** The network the auth service issues tokens for; hubs and exits check it. */
const NETWORK_ID = "e2e-net";
/** Token lifetime: short, so that every step runs across several refreshes (at 80 %: 2.4 s). */
const TOKEN_TTL_SECS = 3;
/** The hub asks exits to re-register this often, so a refused heartbeat shows within seconds. */
const HUB_HEARTBEAT_SECS = 1;
/** Bound on a proxy's first successful curl (discovery through the hub included). */
const FIRST_CURL_MS = 20_000;
/** Bound on a process that must exit by itself (start-up plus one refused token request). */
const EXIT_WITHIN_MS = 20_000;
/** The expiry step: one new curl session per second for this long (several 3 s tokens). */
const EXPIRY_WINDOW_MS = 10_000;
/** Bound on a log line appearing. */
const LOG_WITHIN_MS = 15_000;
/** SOCKS reply "connection not allowed by ruleset" (RFC 1928). */
const SOCKS_NOT_ALLOWED = 2;

/** Bound on a graceful stop before SIGKILL (the tests need no 10 s drain). */
const STOP_GRACE_MS = 5_000;

/** Stops a node started by scripts/cluster.ts and removes its state dir. */
async function stopAndRemove(node: NodeProcess): Promise<void> {
  await node.stop(STOP_GRACE_MS);
  await Deno.remove(node.dir, { recursive: true }).catch(() => {});
}

/** The `auth` section of a role's config for the shared service. */
function connectAuth(url: string, transport: "connect" | "grpc-web" | "grpc" = "connect") {
  return { provider: "connect", url, transport, network_id: NETWORK_ID };
}

/** Lines of the service's log saying it issued a `role` token to `peer`. */
function issuedTo(auth: AuthServe, role: "proxy" | "exit", peer: string): number {
  const pattern = new RegExp(`Issued a ${role} token to ${peer}`, "g");
  return auth.logs().match(pattern)?.length ?? 0;
}

/** A refusal of the hub, with its code. */
function assertHubRefused(answer: HubAnswer, code: ErrorCode, pattern: RegExp, what: string) {
  assert.ok(!answer.ok, `${what}: the hub accepted it`);
  assert.equal(ErrorCode[answer.code], ErrorCode[code], `${what}: ${answer.message}`);
  assert.match(answer.message, pattern, what);
}

/** Everything the first test shares: the service, the hub, the exit, a destination. */
interface Network {
  readonly auth: AuthServe;
  readonly hub: NodeProcess;
  readonly exit: NodeProcess;
  readonly whoami: Whoami;
  readonly peer: TestPeer;
}

/** Starts a proxy of the shared network that discovers its exit through the hub. */
async function startNetworkProxy(
  net: Network,
  nodes: NodeProcess[],
  transport: "connect" | "grpc-web" | "grpc",
  url = net.auth.url,
): Promise<{ proxy: NodeProcess; socksPort: number }> {
  const socksPort = freePort();
  const proxy = await startProxy({
    servers: [{ port: socksPort }],
    bootstrap: [net.hub.address],
    auth: connectAuth(url, transport),
    api_key: net.auth.apiKeys.proxy,
  }, { logLevel: "info" });
  nodes.push(proxy);
  return { proxy, socksPort };
}

Deno.test("auth service, hub, exit and proxies: tokens issued, refreshed, verified, refused", async (t) => {
  const nodes: NodeProcess[] = [];
  const spawned: RoleProcess[] = [];
  const services: AuthServe[] = [];
  const whoami = startWhoami();
  let peer: TestPeer | undefined;
  try {
    const auth = await startAuthServe({
      networkId: NETWORK_ID,
      ttlSecs: TOKEN_TTL_SECS,
      grpc: true,
    });
    services.push(auth);
    const hub = await startHub({
      auth: connectAuth(auth.url),
      heartbeat_secs: HUB_HEARTBEAT_SECS,
    }, { logLevel: "info" });
    nodes.push(hub);
    const exit = await startExit({
      auth: connectAuth(auth.url),
      api_key: auth.apiKeys.exit,
      bootstrap: [hub.address],
      relay: "never",
      egress: { allow_cidrs: ["127.0.0.1/32"] },
    }, { logLevel: "info" });
    nodes.push(exit);
    peer = await startTestPeer();
    const net: Network = { auth, hub, exit, whoami, peer };

    const first = await startNetworkProxy(net, nodes, "connect");

    await t.step("end to end: curl through the proxy (provider connect)", async () => {
      const result = await firstCurlVia(first.socksPort, whoami.url, FIRST_CURL_MS);
      assert.equal(result.body, "whoami 127.0.0.1\n");
      assert.ok(issuedTo(auth, "proxy", first.proxy.peerId) >= 1, auth.logs());
      assert.ok(issuedTo(auth, "exit", exit.peerId) >= 1, auth.logs());
    });

    await t.step(
      "transports: a proxy on gRPC-web and one on gRPC (h2c, grpc_port) work",
      async () => {
        assert.ok(auth.grpcUrl, "the service serves gRPC");
        const [web, grpc] = await Promise.all([
          startNetworkProxy(net, nodes, "grpc-web"),
          startNetworkProxy(net, nodes, "grpc", auth.grpcUrl),
        ]);
        for (const [name, { proxy, socksPort }] of [["grpc-web", web], ["grpc", grpc]] as const) {
          const result = await firstCurlVia(socksPort, whoami.url, FIRST_CURL_MS);
          assert.equal(result.body, "whoami 127.0.0.1\n", name);
          assert.ok(issuedTo(auth, "proxy", proxy.peerId) >= 1, `${name}: no token issued`);
        }
      },
    );

    await t.step("3 s tokens: sessions and registrations carry on across refreshes", async () => {
      const proxyTokens = issuedTo(auth, "proxy", first.proxy.peerId);
      const exitTokens = issuedTo(auth, "exit", exit.peerId);
      const started = Date.now();
      let sessions = 0;
      while (Date.now() - started < EXPIRY_WINDOW_MS) {
        const result = await curlVia(first.socksPort, whoami.url, 5);
        assert.equal(result.code, 0, `session ${sessions} failed: ${result.stderr}`);
        assert.equal(result.body, "whoami 127.0.0.1\n");
        sessions++;
        await sleep(1_000);
      }
      assert.ok(sessions >= 8, `only ${sessions} sessions`);
      // A token lives 3 s and is refreshed at 80 %: a 10 s window holds at least 3 refreshes.
      const proxyRefreshes = issuedTo(auth, "proxy", first.proxy.peerId) - proxyTokens;
      const exitRefreshes = issuedTo(auth, "exit", exit.peerId) - exitTokens;
      assert.ok(proxyRefreshes >= 3, `the proxy refreshed ${proxyRefreshes} times`);
      assert.ok(exitRefreshes >= 3, `the exit refreshed ${exitRefreshes} times`);
      // The hub forgets an exit after 3 missed 1 s heartbeats: it is still listed only if its
      // re-registrations, each with its current token, kept being accepted.
      assert.doesNotMatch(exit.logs(), /Registering with hub .* failed/);
      const token = await issueToken(auth.url, peer!.identity, auth.apiKeys.proxy, "proxy");
      const found = await peer!.findNodes(hub, token);
      assert.ok(found.ok, found.ok ? "" : found.message);
      assert.deepEqual(found.peers, [exit.peerId]);
    });

    await t.step(
      "a bad API key ends the role with code 1, naming where the key came from",
      async () => {
        const wrongKey = "p2pk_not-a-key-this-service-knows";
        // Pinned, so the config is complete (a server needs a route); the key fails first.
        const socks = () => [{ port: freePort(), destination_peers: [exit.address] }];
        const cases = [
          {
            what: "proxy, wrong `api_key` in the config",
            process: spawnRole("proxy", {
              servers: socks(),
              auth: connectAuth(auth.url),
              api_key: wrongKey,
            }),
            source: /API key from the config \(`api_key`\)/,
            reason: /unauthenticated/,
          },
          {
            what: "proxy, wrong P2PROXY_API_KEY",
            process: spawnRole("proxy", { servers: socks(), auth: connectAuth(auth.url) }, {
              env: { P2PROXY_API_KEY: wrongKey },
            }),
            source: /API key from the environment variable P2PROXY_API_KEY/,
            reason: /unauthenticated/,
          },
          {
            what: "exit, wrong P2PROXY_API_KEY",
            process: spawnRole("exit", { auth: connectAuth(auth.url) }, {
              env: { P2PROXY_API_KEY: wrongKey },
            }),
            source: /API key from the environment variable P2PROXY_API_KEY/,
            reason: /unauthenticated/,
          },
          {
            what: "proxy with a key that may only ask for exit tokens",
            process: spawnRole("proxy", {
              servers: socks(),
              auth: connectAuth(auth.url),
              api_key: auth.apiKeys.exit,
            }),
            source: /refused the proxy token request made with the API key from the config/,
            reason: /permission_denied: The API key "exit-key" may ask for exit tokens/,
          },
        ];
        const processes = await Promise.all(cases.map((c) => c.process));
        spawned.push(...processes);
        const codes = await Promise.all(processes.map((p) => exitCodeWithin(p, EXIT_WITHIN_MS)));
        cases.forEach((c, i) => {
          const log = processes[i]!.logs();
          assert.equal(codes[i], 1, `${c.what}: exit code ${codes[i]}\n${log}`);
          assert.match(log, c.source, c.what);
          assert.match(log, c.reason, c.what);
          assert.doesNotMatch(log, new RegExp(wrongKey), `${c.what}: the key is never logged`);
        });
      },
    );

    await t.step(
      "the service down at start: the proxy retries with backoff, then works",
      async () => {
        const port = freePort();
        const socksPort = freePort();
        const proxy = await spawnRole("proxy", {
          servers: [{ port: socksPort }],
          bootstrap: [hub.address],
          auth: connectAuth(`http://127.0.0.1:${port}`),
          api_key: auth.apiKeys.proxy,
        });
        spawned.push(proxy);
        await waitForLog(
          proxy,
          /No token yet from the auth service .*retrying in 1 s/,
          LOG_WITHIN_MS,
        );
        await waitForLog(
          proxy,
          // The second attempt waits twice as long as the first: backoff, not a busy loop.
          new RegExp(
            `No token yet from the auth service at http://127\\.0\\.0\\.1:${port}.*` +
              "retrying in 2 s",
          ),
          LOG_WITHIN_MS,
        );
        // A second service with a copy of the signing key (a replica), so the shared hub and
        // exit accept its tokens.
        const late = await startAuthServe({
          networkId: NETWORK_ID,
          ttlSecs: TOKEN_TTL_SECS,
          dir: auth.dir,
          apiKeys: auth.apiKeys,
          port,
        });
        services.push(late);
        await waitForPort(socksPort, LOG_WITHIN_MS);
        const result = await firstCurlVia(socksPort, whoami.url, FIRST_CURL_MS);
        assert.equal(result.body, "whoami 127.0.0.1\n");
        assert.match(late.logs(), /Issued a proxy token/);
      },
    );

    const target = { host: "127.0.0.1", port: whoami.port };
    await t.step(
      "a token of peer A presented by peer B: refused by the exit and the hub",
      async () => {
        const a = await FileIdentity.generate();
        const ownProxy = await issueToken(auth.url, peer!.identity, auth.apiKeys.proxy, "proxy");
        const ofA = await issueToken(auth.url, a, auth.apiKeys.proxy, "proxy");
        const exitOfA = await issueToken(auth.url, a, auth.apiKeys.exit, "exit");

        // Control: B's own token is accepted, so the refusals below are about the token.
        const accepted = await peer!.connect(exit, target, ownProxy);
        assert.equal(ConnectStatus[accepted.status], "SUCCEEDED", accepted.message);
        const found = await peer!.findNodes(hub, ownProxy);
        assert.ok(found.ok, found.ok ? "" : found.message);

        const wrongPeer = new RegExp(
          `issued to peer ${a.peerId} but presented by peer ${peer!.identity.peerId}`,
        );
        const atExit = await peer!.connect(exit, target, ofA);
        assert.equal(ConnectStatus[atExit.status], "NOT_ALLOWED");
        assert.match(atExit.message, wrongPeer);
        assertHubRefused(
          await peer!.findNodes(hub, ofA),
          ErrorCode.PERMISSION_DENIED,
          wrongPeer,
          "FindNodes with A's token",
        );
        assertHubRefused(
          await peer!.register(hub, exitOfA),
          ErrorCode.PERMISSION_DENIED,
          wrongPeer,
          "Register with A's exit token",
        );
      },
    );

    await t.step("wrong role and tampered tokens: refused by the exit and the hub", async () => {
      const ownExit = await issueToken(auth.url, peer!.identity, auth.apiKeys.both, "exit");
      const ownProxy = await issueToken(auth.url, peer!.identity, auth.apiKeys.both, "proxy");

      const exitTokenAtExit = await peer!.connect(exit, target, ownExit);
      assert.equal(ConnectStatus[exitTokenAtExit.status], "NOT_ALLOWED");
      assert.match(exitTokenAtExit.message, /for the exit role, but proxy is required/);
      assertHubRefused(
        await peer!.register(hub, ownProxy),
        ErrorCode.PERMISSION_DENIED,
        /for the proxy role, but exit is required/,
        "Register with a proxy token",
      );

      for (const [part, name] of [[1, "payload"], [2, "signature"]] as const) {
        const tampered = tamperWith(ownProxy, part);
        assert.notEqual(tampered, ownProxy);
        const atExit = await peer!.connect(exit, target, tampered);
        assert.equal(ConnectStatus[atExit.status], "NOT_ALLOWED", `tampered ${name}`);
        assert.match(atExit.message, /signature does not verify.*altered or forged/, name);
        const atHub = await peer!.findNodes(hub, tampered);
        assert.ok(!atHub.ok, `tampered ${name}: the hub answered FindNodes`);
        assert.equal(ErrorCode[atHub.code], "UNAUTHENTICATED", atHub.message);
      }
      const none = await peer!.connect(exit, target, "");
      assert.equal(ConnectStatus[none.status], "NOT_ALLOWED", "no token at all");
    });
  } finally {
    await peer?.stop();
    await Promise.all([
      ...nodes.map((node) => stopAndRemove(node)),
      ...spawned.map((process) => process.stop(STOP_GRACE_MS)),
    ]);
    await Promise.all(services.map((service) => service.stop()));
    await whoami.close();
  }
});

Deno.test("static-token network: works; a wrong token gets SOCKS 02 and a warn line", async () => {
  const nodes: NodeProcess[] = [];
  const whoami = startWhoami();
  const token = `static-${crypto.randomUUID()}`;
  const staticAuth = (value: string) => ({ provider: "static", token: value });
  try {
    const hub = await startHub({ auth: staticAuth(token) });
    nodes.push(hub);
    const exit = await startExit({
      auth: staticAuth(token),
      bootstrap: [hub.address],
      relay: "never",
      egress: { allow_cidrs: ["127.0.0.1/32"] },
    });
    nodes.push(exit);
    const goodPort = freePort();
    const badPort = freePort();
    const [good, bad] = await Promise.all([
      startProxy({
        servers: [{ port: goodPort }],
        bootstrap: [hub.address],
        auth: staticAuth(token),
      }),
      // Pinned to the exit's address: the hub would not even list exits for this token.
      startProxy({
        servers: [{ port: badPort, destination_peers: [exit.address] }],
        auth: staticAuth(`${token}-wrong`),
      }),
    ]);
    nodes.push(good, bad);

    const result = await firstCurlVia(goodPort, whoami.url, FIRST_CURL_MS);
    assert.equal(result.body, "whoami 127.0.0.1\n");

    const served = whoami.served();
    assert.equal(
      await socksReplyCode(badPort, "127.0.0.1", whoami.port, FIRST_CURL_MS),
      SOCKS_NOT_ALLOWED,
    );
    const warn = await waitForLog(bad, /\[WRN\].*CONNECT .* denied by policy at exit .*/, 5_000);
    assert.match(warn[0], /does not match this network's shared token/);
    assert.match(warn[0], /auth\.token/);
    assert.equal(whoami.served(), served, "the destination was never contacted");
    const curl = await curlVia(badPort, whoami.url, 5);
    assert.notEqual(curl.code, 0, "curl through the wrong token fails");
  } finally {
    await Promise.all(nodes.map((node) => stopAndRemove(node)));
    await whoami.close();
  }
});
