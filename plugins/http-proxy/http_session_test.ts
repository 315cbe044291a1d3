import assert from "node:assert/strict";
import type { ClientConnection } from "../../core/ports/inbound.ts";
import { inboundCompliance } from "../../core/testing/compliance/inbound.ts";
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
