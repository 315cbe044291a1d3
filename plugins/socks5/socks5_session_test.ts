import assert from "node:assert/strict";
import {
  AUTH_METHOD,
  encodeGreeting,
  encodeRequest,
  encodeUserPass,
  MAX_REPLY_BYTES,
  parseMethodSelection,
  parseReply,
  type ParseResult,
  parseUserPassStatus,
  SOCKS_REPLY,
} from "../../core/codec/socks5.ts";
import type { ServerConfig } from "../../core/config/proxy_config.ts";
import { NO_FILTERS } from "../../core/domain/attributes.ts";
import type { ClientConnection, SessionRequest, SessionRouter } from "../../core/ports/inbound.ts";
import { aPeerId } from "../../core/testing/builders.ts";
import { RecordingSink } from "../../core/testing/fakes.ts";
import { memoryConnectionPair, memoryStreamPair } from "../../core/testing/memory_duplex.ts";
import { inboundCompliance } from "../../core/testing/compliance/inbound.ts";
import { plugin, SOCKS5_INBOUND } from "./mod.ts";
import { connectFailureLine } from "./socks5_session.ts";

const PEER = aPeerId(1);

Deno.test("a refusal by the exit's policy or auth is 'denied by policy', at warn", () => {
  for (const stage of ["refused", "stream"] as const) {
    const line = connectFailureLine({
      ok: false,
      replyCode: SOCKS_REPLY.notAllowed,
      stage,
      message: "The exit's egress policy refuses [::1]:80.",
      peerId: PEER,
    });
    assert.equal(line.level, "warn");
    assert.match(line.template, /\bdenied by policy at exit \{peer\}: \{message\}$/);
    assert.doesNotMatch(line.template, /failed|refused/);
  }
});

Deno.test("other failures are info lines that say where they failed", () => {
  const refused = connectFailureLine({
    ok: false,
    replyCode: SOCKS_REPLY.connectionRefused,
    stage: "refused",
    message: "127.0.0.1:1 refused the connection.",
    peerId: PEER,
  });
  assert.equal(refused.level, "info");
  assert.match(refused.template, /^CONNECT \{target\} .*failed at exit \{peer\}: \{message\}$/);
  const noPeer = connectFailureLine({
    ok: false,
    replyCode: SOCKS_REPLY.generalFailure,
    stage: "no-peer",
    message: "No exit is available for port 1080.",
  });
  assert.match(noPeer.template, /failed: \{message\}$/);
  assert.doesNotMatch(noPeer.template, /\{peer\}/, "no exit to name");
});

/** Reads from `conn` until `parse` has a whole message. */
async function readMessage<T>(
  conn: ClientConnection,
  parse: (buf: Uint8Array) => ParseResult<T>,
): Promise<T> {
  let buffer = new Uint8Array(0);
  while (true) {
    const result = parse(buffer);
    if (result.kind === "ok") return result.value;
    const chunk = new Uint8Array(MAX_REPLY_BYTES);
    const n = await conn.read(chunk);
    if (n === null) throw new Error("The door closed the connection mid-message.");
    const merged = new Uint8Array(buffer.byteLength + n);
    merged.set(buffer);
    merged.set(chunk.subarray(0, n), buffer.byteLength);
    buffer = merged;
  }
}

/** A SOCKS5 client on an in-memory connection: no authentication, CONNECT to `target`. */
async function socks5Connect(
  conn: ClientConnection,
  target: { readonly host: string; readonly port: number },
): Promise<boolean> {
  await conn.write(encodeGreeting([AUTH_METHOD.noAuth]));
  const selection = await readMessage(conn, parseMethodSelection);
  assert.equal(selection.method, AUTH_METHOD.noAuth);
  await conn.write(encodeRequest({ command: "connect", host: target.host, port: target.port }));
  const reply = await readMessage(conn, parseReply);
  return reply.code === SOCKS_REPLY.succeeded;
}

Deno.test("the SOCKS5 door passes the inbound compliance suite", (t) =>
  inboundCompliance(t, () => ({ protocol: SOCKS5_INBOUND, connect: socks5Connect })));

Deno.test("the socks5 plugin provides its door as the inbound capability", async () => {
  const instance = await plugin.create(plugin.options.parse({}), {
    stateDir: ".",
    role: "proxy",
    get: () => assert.fail("socks5 requires nothing"),
    find: () => assert.fail("socks5 wants nothing"),
  });
  assert.equal(instance.provides.inbound, SOCKS5_INBOUND);
  assert.deepEqual(SOCKS5_INBOUND.firstBytes, [0x05]);
});

/** A recording router that answers "no exit" (0x03) to selections and success otherwise. */
function recordingRouter(): SessionRouter & { readonly requests: SessionRequest[] } {
  const requests: SessionRequest[] = [];
  return {
    requests,
    open(request) {
      requests.push(request);
      if (request.selection?.filters.country === "ZA") {
        return Promise.resolve({
          ok: false,
          replyCode: SOCKS_REPLY.networkUnreachable,
          stage: "no-peer",
          message: "No exit matching country ZA was found.",
        });
      }
      const [proxyEnd, exitEnd] = memoryStreamPair();
      exitEnd.abort();
      return Promise.resolve({
        ok: true,
        stream: proxyEnd,
        peerId: PEER,
        boundHost: "192.0.2.1",
        boundPort: 1,
      });
    },
  };
}

/** Greets with USERNAME/PASSWORD, authenticates as `username`, CONNECTs; the reply code or the auth status. */
async function connectAs(
  server: ServerConfig,
  username: string,
  password: string,
): Promise<{ auth: boolean; reply?: number; requests: SessionRequest[] }> {
  const [client, end] = memoryConnectionPair();
  const router = recordingRouter();
  const abort = new AbortController();
  const done = SOCKS5_INBOUND.handler(server, { router, events: new RecordingSink() })(
    end,
    abort.signal,
  ).finally(() => end.close());
  try {
    await client.write(encodeGreeting([AUTH_METHOD.userPass]));
    assert.equal((await readMessage(client, parseMethodSelection)).method, AUTH_METHOD.userPass);
    await client.write(encodeUserPass(username, password));
    const status = await readMessage(client, parseUserPassStatus);
    if (!status.ok) return { auth: false, requests: router.requests };
    await client.write(encodeRequest({ command: "connect", host: "dest.test", port: 80 }));
    const reply = await readMessage(client, parseReply);
    return { auth: true, reply: reply.code, requests: router.requests };
  } finally {
    abort.abort();
    client.close();
    await done;
  }
}

const DOOR_SERVER: ServerConfig = {
  protocol: "socks5",
  port: 1080,
  bind: "127.0.0.1",
  users: [{ username: "demo", password: "pw" }],
  allowAnonymous: false,
  usernameRouting: true,
  filters: { ...NO_FILTERS, country: "NL", minBandwidthBps: 7 },
  pinned: [],
  fallbackToDiscovery: false,
  sticky: false,
  stickyReconnect: "with-backoff",
  poolMaxTotal: 1,
  openTimeoutMs: 2_000,
  idleTimeoutMs: 0,
  handshakeTimeoutMs: 2_000,
  fingerprint: "door",
};

Deno.test("the SOCKS5 door reads RFC 1929 usernames with the routing grammar", async (t) => {
  await t.step("account and selection go to the router", async () => {
    const result = await connectAs(DOOR_SERVER, "demo-country-de-session-s1-ttl-5", "pw");
    assert.equal(result.reply, SOCKS_REPLY.succeeded);
    const [request] = result.requests;
    assert.equal(request?.account, "demo");
    assert.deepEqual(request?.selection, {
      filters: { ...NO_FILTERS, country: "DE", minBandwidthBps: 7 },
      owner: "demo",
      session: "demo/s1",
      idleMs: 300_000,
    });
  });
  await t.step("a plain account keeps the port's exit", async () => {
    const result = await connectAs(DOOR_SERVER, "demo", "pw");
    assert.equal(result.requests[0]?.account, "demo");
    assert.equal(result.requests[0]?.selection, undefined);
  });
  await t.step("an unknown key fails authentication", async () => {
    const result = await connectAs(DOOR_SERVER, "demo-planet-mars", "pw");
    assert.equal(result.auth, false);
    assert.equal(result.requests.length, 0);
  });
  await t.step("a wrong password fails whatever the filters", async () => {
    assert.equal((await connectAs(DOOR_SERVER, "demo-country-de", "no")).auth, false);
  });
  await t.step("no matching exit is reply 0x03", async () => {
    const result = await connectAs(DOOR_SERVER, "demo-country-za", "pw");
    assert.equal(result.reply, SOCKS_REPLY.networkUnreachable);
  });
  await t.step("username_routing: false reads the whole name as the account", async () => {
    const literal = {
      ...DOOR_SERVER,
      usernameRouting: false,
      users: [{ username: "demo-country-de", password: "pw" }],
    };
    const result = await connectAs(literal, "demo-country-de", "pw");
    assert.equal(result.requests[0]?.account, "demo-country-de");
    assert.equal(result.requests[0]?.selection, undefined);
  });
});
