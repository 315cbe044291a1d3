/**
 * SOCKS5 reply codes end to end (docs/proxy-behaviour.md#reply-codes), with real proxy and exit
 * processes and the tests' own SOCKS client: each failure maps to its RFC
 * 1928 code, a success is sent only after the exit confirmed the
 * destination, the default egress policy refuses loopback without
 * connecting, methods and RFC 1929 credentials are enforced, a slow
 * handshake is cut at `handshake_timeout_secs`, and names are resolved by the
 * exits' static map, never by the system resolver.
 *
 * @module
 */
import assert from "node:assert/strict";
import { AUTH_METHOD, parseReply, SOCKS_REPLY } from "../core/codec/socks5.ts";
import { freePort, type NodeProcess, startExit, startProxy } from "../scripts/cluster.ts";
import { assertOnlyStaticLookups } from "./_no_dns.ts";
import { startEchoServer, writeFully } from "./_servers.ts";
import {
  authenticate,
  connectLocal,
  ConnReader,
  greet,
  openSocks,
  replyCodeFor,
  request,
} from "./_socks_client.ts";

/** Bound on a wait for a reply or a close: far above a loopback round trip through two processes. */
const WAIT_MS = 10_000;
/** The SOCKS listener's handshake timeout in this file's config. */
const HANDSHAKE_TIMEOUT_SECS = 1;
/** The drop must come after the timeout (minus timer slack) and well before a hang. */
const HANDSHAKE_DROP_MIN_MS = 900;
const HANDSHAKE_DROP_MAX_MS = 3_000;
/** Long enough for a connect that the exit (wrongly) started to reach the destination. */
const NO_CONNECT_GRACE_MS = 300;

const USER = { username: "alice", password: "s3cret-pw" };

/** A name only the exits' static map knows (the echo server's address). */
const DEST_NAME = "dest.test";
/** A name no resolver knows (RFC 6761 reserves `.invalid`). */
const UNKNOWN_NAME = "nonexistent.invalid";
/** Both exits resolve through this map (and `localhost`) only; each lookup leaves a debug line. */
const STATIC_HOSTS = {
  plugins: { "@p2proxy/resolver-static": { hosts: { [DEST_NAME]: ["127.0.0.1"] } } },
};

/**
 * Reads until the server closes; fails if it sends anything more, keeps the
 * connection open, or resets it: a refusal ends with a graceful close (FIN),
 * since a reset may discard the reply before the client has read it.
 */
async function assertClosedWithoutMore(reader: ConnReader, what: string): Promise<void> {
  let extra = 0;
  const kind = await reader.toEnd(WAIT_MS, what, (chunk) => {
    extra += chunk.byteLength;
  });
  assert.equal(extra, 0, `${what}: the server sent ${extra} more bytes before closing`);
  assert.equal(kind, "eof", `${what}: the server reset the connection instead of closing it`);
}

/** Greeting + request on a fresh connection; returns the reply and the open reader. */
async function requestOn(
  port: number,
  init: Parameters<typeof request>[1],
): Promise<{ code: number; reader: ConnReader }> {
  const reader = new ConnReader(await connectLocal(port));
  try {
    assert.equal(await greet(reader, [AUTH_METHOD.noAuth]), AUTH_METHOD.noAuth);
    const reply = await request(reader, init, WAIT_MS);
    return { code: reply.code, reader };
  } catch (error) {
    reader.close();
    throw error;
  }
}

Deno.test("SOCKS5 reply codes through proxy → exit", async (t) => {
  const echo = startEchoServer();
  const nodes: NodeProcess[] = [];
  try {
    const [open, strict] = await Promise.all([
      startExit({ egress: { allow_cidrs: ["127.0.0.0/8"] }, ...STATIC_HOSTS }, {
        logLevel: "debug",
      }),
      // No allow_cidrs: the default policy, which must refuse loopback.
      startExit({ ...STATIC_HOSTS }, { logLevel: "debug" }),
    ]);
    nodes.push(open, strict);
    const [openPort, strictPort, authPort] = [freePort(), freePort(), freePort()];
    const proxy = await startProxy({
      servers: [
        {
          port: openPort,
          destination_peers: [open.address],
          handshake_timeout_secs: HANDSHAKE_TIMEOUT_SECS,
        },
        { port: strictPort, destination_peers: [strict.address] },
        { port: authPort, destination_peers: [open.address], users: [USER] },
      ],
    });
    nodes.push(proxy);

    await t.step("a refused port answers 05, with no success before it, then closes", async () => {
      const closedPort = freePort();
      const { code, reader } = await requestOn(openPort, {
        command: "connect",
        host: "127.0.0.1",
        port: closedPort,
      });
      try {
        // The first reply after the method selection is the failure: no 00 came first.
        assert.equal(code, SOCKS_REPLY.connectionRefused);
        await assertClosedWithoutMore(reader, "after reply 05");
      } finally {
        reader.close();
      }
    });

    await t.step("an unresolvable name answers 04 (resolved at the exit)", async () => {
      const code = await replyCodeFor({ proxyPort: openPort, host: UNKNOWN_NAME, port: 80 });
      assert.equal(code, SOCKS_REPLY.hostUnreachable);
    });

    await t.step(
      "a name is resolved at the exit: the exit's map knows it, the proxy does not",
      async () => {
        const session = await openSocks({ proxyPort: openPort, host: DEST_NAME, port: echo.port });
        try {
          await writeFully(session.conn, new TextEncoder().encode("named"));
          const back = await session.reader.exactly(5, WAIT_MS, "the echo");
          assert.equal(new TextDecoder().decode(back), "named");
        } finally {
          session.reader.close();
        }
      },
    );

    await t.step("success carries the endpoint the exit connected from", async () => {
      // The proxy can only know BND.ADDR:BND.PORT from the exit's confirmed connection: a
      // success sent before the exit connected could not name the port the destination saw.
      const session = await openSocks({ proxyPort: openPort, host: "127.0.0.1", port: echo.port });
      try {
        const seen = echo.peers.at(-1);
        assert.ok(seen, "the destination saw no connection");
        assert.equal(session.reply.host, seen.hostname);
        assert.equal(session.reply.port, seen.port);
        await writeFully(session.conn, new TextEncoder().encode("ping"));
        const back = await session.reader.exactly(4, WAIT_MS, "the echo");
        assert.equal(new TextDecoder().decode(back), "ping");
      } finally {
        session.reader.close();
      }
    });

    await t.step("the default egress policy answers 02 and never connects", async () => {
      const before = echo.accepted;
      for (const host of ["127.0.0.1", "localhost"]) {
        const code = await replyCodeFor({ proxyPort: strictPort, host, port: echo.port });
        assert.equal(code, SOCKS_REPLY.notAllowed, host);
      }
      await new Promise((resolve) => setTimeout(resolve, NO_CONNECT_GRACE_MS));
      assert.equal(echo.accepted, before, "the destination saw a connection");
    });

    // UDP ASSOCIATE is served (tests/udp_associate_test.ts).
    await t.step("BIND and unknown commands answer 07, then close", async () => {
      for (const command of ["bind", 0x09] as const) {
        const { code, reader } = await requestOn(openPort, {
          command,
          host: "127.0.0.1",
          port: echo.port,
        });
        try {
          assert.equal(code, SOCKS_REPLY.commandNotSupported, String(command));
          await assertClosedWithoutMore(reader, `after reply 07 to ${command}`);
        } finally {
          reader.close();
        }
      }
    });

    await t.step("an unknown address type answers 08, then closes", async () => {
      const reader = new ConnReader(await connectLocal(openPort));
      try {
        assert.equal(await greet(reader, [AUTH_METHOD.noAuth]), AUTH_METHOD.noAuth);
        // VER CMD RSV ATYP=0x05, then what would be an IPv4 address and a port.
        await writeFully(reader.conn, Uint8Array.of(5, 1, 0, 0x05, 127, 0, 0, 1, 0, 80));
        const reply = await reader.message(parseReply, WAIT_MS, "the reply");
        assert.equal(reply.code, SOCKS_REPLY.addressTypeNotSupported);
        await assertClosedWithoutMore(reader, "after reply 08");
      } finally {
        reader.close();
      }
    });

    await t.step("no acceptable method answers 05 FF, then closes", async () => {
      const cases: Array<[number, number[], string]> = [
        [openPort, [AUTH_METHOD.gssapi], "GSSAPI only"],
        [authPort, [AUTH_METHOD.noAuth], "no auth to a server with users"],
      ];
      // A server without users still takes a username, to read its routing (country, session).
      const routed = new ConnReader(await connectLocal(openPort));
      try {
        assert.equal(await greet(routed, [AUTH_METHOD.userPass]), AUTH_METHOD.userPass);
      } finally {
        routed.close();
      }
      for (const [port, methods, what] of cases) {
        const reader = new ConnReader(await connectLocal(port));
        try {
          assert.equal(await greet(reader, methods), AUTH_METHOD.noAcceptable, what);
          await assertClosedWithoutMore(reader, `after 05 FF (${what})`);
        } finally {
          reader.close();
        }
      }
    });

    await t.step("a wrong password fails and closes; the right one works", async () => {
      for (const wrong of [{ ...USER, password: "wrong" }, { ...USER, username: "mallory" }]) {
        const reader = new ConnReader(await connectLocal(authPort));
        try {
          assert.equal(await greet(reader, [AUTH_METHOD.userPass]), AUTH_METHOD.userPass);
          assert.notEqual(await authenticate(reader, wrong), 0, JSON.stringify(wrong));
          await assertClosedWithoutMore(reader, "after the authentication failure");
        } finally {
          reader.close();
        }
      }
      const session = await openSocks({
        proxyPort: authPort,
        host: "127.0.0.1",
        port: echo.port,
        auth: USER,
      });
      try {
        await writeFully(session.conn, new TextEncoder().encode("authorised"));
        const back = await session.reader.exactly(10, WAIT_MS, "the echo");
        assert.equal(new TextDecoder().decode(back), "authorised");
      } finally {
        session.reader.close();
      }
    });

    await t.step(
      "the exits resolved every name through their static map, none by the system",
      () => {
        assertOnlyStaticLookups(open.logs(), [UNKNOWN_NAME, DEST_NAME]);
        assertOnlyStaticLookups(strict.logs(), ["localhost"]);
      },
    );

    await t.step("a stalled handshake is dropped at handshake_timeout_secs", async () => {
      const stall = async (bytes: Uint8Array, what: string) => {
        const reader = new ConnReader(await connectLocal(openPort));
        try {
          await writeFully(reader.conn, bytes);
          const started = performance.now();
          let received = 0;
          await reader.toEnd(WAIT_MS, what, (chunk) => {
            received += chunk.byteLength;
          });
          return { elapsed: performance.now() - started, received };
        } finally {
          reader.close();
        }
      };
      const [half, afterGreeting] = await Promise.all([
        stall(Uint8Array.of(5), "half a greeting"),
        stall(Uint8Array.of(5, 1, 0), "a greeting without a request"),
      ]);
      for (
        const [result, what] of [[half, "half a greeting"], [afterGreeting, "no request"]] as const
      ) {
        assert.ok(
          result.elapsed >= HANDSHAKE_DROP_MIN_MS && result.elapsed < HANDSHAKE_DROP_MAX_MS,
          `${what}: closed after ${result.elapsed.toFixed(0)} ms`,
        );
      }
      assert.equal(half.received, 0);
      assert.equal(afterGreeting.received, 2, "only the method selection before the drop");
    });
  } finally {
    for (const node of nodes.reverse()) await node.stop(5_000);
    await echo.close();
  }
});
