import assert from "node:assert/strict";
import type { ClientConnection, InboundProtocol } from "../../ports/inbound.ts";
import { inboundCompliance } from "./inbound.ts";
import { recordingContext } from "./_recording_context.ts";

/** A client of a line protocol: `CONNECT host port\n`, answered `OK\n` or `NO\n`. */
async function lineConnect(
  conn: ClientConnection,
  target: { readonly host: string; readonly port: number },
): Promise<boolean> {
  await conn.write(new TextEncoder().encode(`CONNECT ${target.host} ${target.port}\n`));
  const buffer = new Uint8Array(3);
  const n = await conn.read(buffer);
  if (n === null) throw new Error("The door closed without an answer.");
  return new TextDecoder().decode(buffer.subarray(0, n)) === "OK\n";
}

/** A door that closes every connection at once, never asking the router. */
const slammingDoor: InboundProtocol = {
  protocol: "slam",
  firstBytes: [0x43],
  handler: () => (conn) => {
    conn.close();
    return Promise.resolve();
  },
};

Deno.test("the inbound suite fails a door that never asks the router", async () => {
  const recording = recordingContext();
  await inboundCompliance(recording.t, () => ({ protocol: slammingDoor, connect: lineConnect }));
  assert.deepEqual(recording.failed(), [
    "a request reaches the router; after success bytes flow both ways",
    "a refusal by the router is told to the client and ends the session",
    "aborting the signal ends a relaying session and resets the exit's stream",
  ]);
});

Deno.test("the inbound suite fails a door that declares a malformed name or first byte", async () => {
  const recording = recordingContext();
  await inboundCompliance(recording.t, () => ({
    protocol: { ...slammingDoor, protocol: "Bad Name", firstBytes: [256] },
    connect: lineConnect,
  }));
  assert.ok(
    recording.failed().includes("declares a protocol name and the bytes its clients start with"),
  );
});
