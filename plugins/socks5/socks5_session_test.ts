import assert from "node:assert/strict";
import {
  AUTH_METHOD,
  encodeGreeting,
  encodeRequest,
  MAX_REPLY_BYTES,
  parseMethodSelection,
  parseReply,
  type ParseResult,
  SOCKS_REPLY,
} from "../../core/codec/socks5.ts";
import type { ClientConnection } from "../../core/ports/inbound.ts";
import { aPeerId } from "../../core/testing/builders.ts";
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
