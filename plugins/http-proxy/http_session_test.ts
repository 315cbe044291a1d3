import assert from "node:assert/strict";
import type { ServerConfig } from "../../core/config/proxy_config.ts";
import { NO_FILTERS } from "../../core/domain/attributes.ts";
import type { ClientConnection, SessionRequest, SessionRouter } from "../../core/ports/inbound.ts";
import type { DuplexStream } from "../../core/ports/stream_opener.ts";
import { aPeerId } from "../../core/testing/builders.ts";
import { inboundCompliance } from "../../core/testing/compliance/inbound.ts";
import { RecordingSink } from "../../core/testing/fakes.ts";
import { memoryConnectionPair, memoryStreamPair } from "../../core/testing/memory_duplex.ts";
import { HTTP_INBOUND, plugin, statusForFailure } from "./mod.ts";

/** Reads the door's answer head byte by byte (never past it: the tunnel's bytes follow). */
async function readHead(conn: ClientConnection): Promise<string> {
  let head = "";
  const byte = new Uint8Array(1);
  while (!head.endsWith("\r\n\r\n")) {
    const n = await conn.read(byte);
    if (n === null) throw new Error(`The door closed after ${JSON.stringify(head)}.`);
    head += String.fromCharCode(byte[0]!);
  }
  return head;
}

async function httpConnect(
  conn: ClientConnection,
  target: { readonly host: string; readonly port: number },
): Promise<boolean> {
  const authority = `${target.host}:${target.port}`;
  await conn.write(
    new TextEncoder().encode(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`),
  );
  return (await readHead(conn)).startsWith("HTTP/1.1 200 ");
}

Deno.test("the HTTP door passes the inbound compliance suite", (t) =>
  inboundCompliance(t, () => ({
    protocol: HTTP_INBOUND,
    connect: httpConnect,
    garbage: Uint8Array.of(0xff, 0xfe, 0x0d, 0x0a, 0x0d, 0x0a),
  })));

Deno.test("the HTTP door maps router failures to statuses", () => {
  const failure = (
    stage: "no-peer" | "stream" | "refused",
    replyCode: number,
    reason?: string,
  ) =>
    statusForFailure({ ok: false, stage, replyCode, message: "m", ...(reason ? { reason } : {}) });
  assert.equal(failure("no-peer", 3, "no-exit"), 503);
  assert.equal(failure("no-peer", 1), 503);
  assert.equal(failure("refused", 2, "denied-range"), 403);
  assert.equal(failure("refused", 2, "auth"), 502);
  assert.equal(failure("refused", 5), 502);
  assert.equal(failure("refused", 4), 502);
  assert.equal(failure("stream", 1, "timeout"), 504);
  assert.equal(failure("refused", 6), 504);
  assert.equal(failure("refused", 2, "limit"), 429);
  assert.equal(failure("refused", 2, "quota"), 403);
});

Deno.test("the http-proxy plugin provides its door as the inbound capability", async () => {
  const instance = await plugin.create(plugin.options.parse({}), {
    stateDir: ".",
    role: "proxy",
    get: () => assert.fail("http-proxy requires nothing"),
    find: () => assert.fail("http-proxy wants nothing"),
  });
  assert.equal(instance.provides.inbound, HTTP_INBOUND);
  assert.ok(!HTTP_INBOUND.firstBytes.includes(0x04) && !HTTP_INBOUND.firstBytes.includes(0x05));
});

/** A router handing out in-memory streams whose exit ends the test reads and answers. */
function memoryRouter() {
  const requests: SessionRequest[] = [];
  const exits: DuplexStream[] = [];
  const router: SessionRouter = {
    open(request) {
      requests.push(request);
      const [proxyEnd, exitEnd] = memoryStreamPair();
      exits.push(exitEnd);
      return Promise.resolve({
        ok: true,
        stream: proxyEnd,
        peerId: aPeerId(1),
        boundHost: "",
        boundPort: 0,
      });
    },
  };
  return { router, requests, exits };
}

const SERVER: ServerConfig = {
  protocol: "http",
  port: 8080,
  bind: "127.0.0.1",
  users: [{ username: "demo", password: "pw" }],
  allowAnonymous: false,
  usernameRouting: true,
  filters: NO_FILTERS,
  pinned: [],
  fallbackToDiscovery: false,
  sticky: false,
  stickyReconnect: "with-backoff",
  poolMaxTotal: 1,
  openTimeoutMs: 1_000,
  idleTimeoutMs: 0,
  handshakeTimeoutMs: 1_000,
  fingerprint: "http",
};

async function readUntil(read: () => Promise<Uint8Array | null>, end: string): Promise<string> {
  let text = "";
  while (!text.includes(end)) {
    const chunk = await read();
    if (chunk === null) throw new Error(`EOF after ${JSON.stringify(text)}`);
    text += new TextDecoder().decode(chunk);
  }
  return text;
}

Deno.test("the HTTP door forwards absolute-form requests, one exit connection per host", async () => {
  const { router, requests, exits } = memoryRouter();
  const [client, end] = memoryConnectionPair();
  const abort = new AbortController();
  const done = HTTP_INBOUND.handler(SERVER, { router, events: new RecordingSink() })(
    end,
    abort.signal,
  ).finally(() => end.close());
  const clientRead = async () => {
    const buffer = new Uint8Array(4096);
    const n = await client.read(buffer);
    return n === null ? null : buffer.subarray(0, n);
  };
  const encode = (text: string) => new TextEncoder().encode(text);
  try {
    // No credentials: 407 with the challenge, and the connection stays usable.
    await client.write(encode("GET http://a.test/ HTTP/1.1\r\n\r\n"));
    const challenge = await readUntil(clientRead, "password.\n");
    assert.match(challenge, /^HTTP\/1\.1 407 /);
    assert.match(challenge, /Proxy-Authenticate: Basic realm="p2proxy"/);

    const auth = `Proxy-Authorization: Basic ${btoa("demo-country-de:pw")}\r\n`;
    await client.write(encode(
      `GET http://a.test:81/x?y HTTP/1.1\r\nHost: a.test:81\r\n${auth}` +
        "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nAccept: */*\r\n\r\n",
    ));
    const exitAt = async (index: number) => {
      for (let i = 0; i < 500 && exits[index] === undefined; i++) {
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      return exits[index]!;
    };
    const first = await exitAt(0);
    const sent = await readUntil(() => first.read(), "\r\n\r\n");
    assert.equal(sent, "GET /x?y HTTP/1.1\r\nHost: a.test:81\r\nAccept: */*\r\n\r\n");
    assert.equal(requests[0]?.account, "demo");
    assert.equal(requests[0]?.selection?.filters.country, "DE");
    assert.deepEqual([requests[0]?.host, requests[0]?.targetPort], ["a.test", 81]);
    await first.write(
      encode("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"),
    );
    assert.match(await readUntil(clientRead, "0\r\n\r\n"), /^HTTP\/1\.1 200 OK\r\n/);

    await client.write(encode(`GET http://b.test/ HTTP/1.1\r\n${auth}\r\n`));
    const second = await exitAt(1);
    assert.match(
      await readUntil(() => second.read(), "\r\n\r\n"),
      /^GET \/ HTTP\/1\.1\r\nHost: b\.test\r\n/,
    );
    await second.write(encode("HTTP/1.1 204 No Content\r\n\r\n"));
    assert.match(await readUntil(clientRead, "\r\n\r\n"), /^HTTP\/1\.1 204 /);
    assert.equal(requests.length, 2, "a second host, a second exit connection");

    await client.write(encode(`GET http://a.test:81/again HTTP/1.1\r\n${auth}\r\n`));
    assert.match(await readUntil(() => first.read(), "\r\n\r\n"), /^GET \/again /);
    assert.equal(requests.length, 2, "the first host's connection is used again");
    await first.write(encode("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    assert.match(await readUntil(clientRead, "\r\n\r\nok"), /Content-Length: 2/);
  } finally {
    abort.abort();
    client.close();
    await done;
  }
});
