import assert from "node:assert/strict";
import type { ServerConfig } from "../core/config/proxy_config.ts";
import { NO_FILTERS } from "../core/domain/attributes.ts";
import type { ClientConnection, InboundProtocol } from "../core/ports/inbound.ts";
import { RecordingSink } from "../core/testing/fakes.ts";
import { memoryConnectionPair } from "../core/testing/memory_duplex.ts";
import { mixedHandler } from "./inbound_listeners.ts";

const SERVER: ServerConfig = {
  protocol: "mixed",
  port: 1080,
  bind: "127.0.0.1",
  users: [],
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
  handshakeTimeoutMs: 200,
  fingerprint: "mixed",
};

/** A door that records the first bytes it read (the peeked one included). */
function recordingDoor(protocol: string, firstBytes: number[], seen: string[]): InboundProtocol {
  return {
    protocol,
    firstBytes,
    handler: () => async (conn: ClientConnection) => {
      const buffer = new Uint8Array(16);
      let text = "";
      while (text.length < 3) {
        const n = await conn.read(buffer);
        if (n === null) break;
        text += [...buffer.subarray(0, n)].map((b) => b.toString(16).padStart(2, "0")).join("");
      }
      seen.push(`${protocol}:${text}`);
    },
  };
}

Deno.test("a mixed port hands each connection, first byte included, to the door it names", async () => {
  const seen: string[] = [];
  const handler = mixedHandler(
    SERVER,
    [
      recordingDoor("socks5", [0x05], seen),
      recordingDoor("socks4", [0x04], seen),
      recordingDoor("http", [0x47], seen),
    ],
    { router: { open: () => Promise.reject(new Error("unused")) }, events: new RecordingSink() },
  );
  for (const bytes of [[0x05, 0x01, 0x00], [0x04, 0x01, 0x00], [0x47, 0x45, 0x54], [0xff, 1, 2]]) {
    const [client, server] = memoryConnectionPair();
    const done = handler(server, new AbortController().signal);
    await client.write(Uint8Array.from(bytes));
    await client.closeWrite();
    await done;
    server.close();
    client.close();
  }
  assert.deepEqual(seen, [
    "socks5:050100",
    "socks4:040100",
    "http:474554",
    "http:ff0102",
  ]);
  // A client that sends nothing is dropped at the handshake deadline, no door asked.
  const [client, server] = memoryConnectionPair();
  await handler(server, new AbortController().signal);
  server.close();
  client.close();
  assert.equal(seen.length, 4);
});
