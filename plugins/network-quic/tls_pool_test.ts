/**
 * The proxy's pool of TLS connections (tls_pool.ts) between real QUIC-wrapped libp2p nodes on
 * 127.0.0.1: sessions that ended cleanly give their connection back for the next one, a burst
 * beyond the dial limit still gets a connection each, and an aborted session's connection is not
 * reused.
 */
import assert from "node:assert/strict";
import { libp2pSettled } from "../../tests/_libp2p.ts";
import type { DuplexStream } from "../../core/ports/stream_opener.ts";
import { QuicNodes } from "./_testing.ts";
import { TLS_POOL_MAX_DIALS } from "./tls_pool.ts";

const PROTOCOL = "/test/echo-once/1.0.0";

/** Reads to the end of `stream`, within 5 s. */
async function readAll(stream: DuplexStream): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const timer = setTimeout(() => stream.abort(new Error("readAll timed out")), 5_000);
  try {
    for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read()) {
      parts.push(chunk.slice());
    }
  } finally {
    clearTimeout(timer);
  }
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/** Waits until `check` holds, polling, for at most 5 s. */
async function eventually(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("TLS pool: sessions reuse connections, bursts get one each, aborted ones are not reused", async (t) => {
  const nodes = new QuicNodes();
  try {
    const proxy = await nodes.node("always", false);
    const exit = await nodes.node("always", true, true);
    // The exit echoes what it read, then ends its side: a clean end on both sides.
    await exit.handle(PROTOCOL, (stream) => {
      void (async () => {
        try {
          const bytes = await readAll(stream);
          await stream.write(bytes);
          await stream.closeWrite();
        } catch {
          stream.abort();
        }
      })();
    });
    await proxy.dialAny(exit.addresses());
    const tls = exit.server!.tls!;
    const session = async (payload: Uint8Array): Promise<Uint8Array> => {
      const stream = await proxy.open(exit.peerId, {
        protocol: PROTOCOL,
        timeoutMs: 5_000,
        maxConcurrent: 512,
      });
      await stream.write(payload);
      await stream.closeWrite();
      return await readAll(stream);
    };

    await t.step("sequential sessions run on one connection", async () => {
      for (let i = 0; i < 20; i++) {
        const payload = new TextEncoder().encode(`session ${i}`);
        assert.deepEqual(await session(payload), payload);
        // The exit's end marker may arrive after our read returned: wait for the give-back.
        await eventually(() => tls.admittedConnections === 1, "one admitted connection");
      }
      assert.equal(proxy.transportOf(exit.peerId), "tls");
    });

    await t.step(
      `a burst beyond the dial limit (${TLS_POOL_MAX_DIALS}) gets a connection each`,
      async () => {
        const count = TLS_POOL_MAX_DIALS * 3;
        const held: DuplexStream[] = await Promise.all(
          Array.from(
            { length: count },
            () =>
              proxy.open(exit.peerId, {
                protocol: PROTOCOL,
                timeoutMs: 10_000,
                maxConcurrent: 512,
              }),
          ),
        );
        // Every stream is open at once, so each has its own connection.
        for (const [i, stream] of held.entries()) {
          await stream.write(new Uint8Array([i]));
        }
        await eventually(() => tls.admittedConnections === count, `${count} connections`);
        const echoed = await Promise.all(held.map(async (stream) => {
          await stream.closeWrite();
          return await readAll(stream);
        }));
        assert.deepEqual(
          echoed.map((bytes) => bytes[0]),
          held.map((_, i) => i),
        );
      },
    );

    await t.step("an aborted session's connection is closed, not reused", async () => {
      const before = tls.admittedConnections;
      const stream = await proxy.open(exit.peerId, {
        protocol: PROTOCOL,
        timeoutMs: 5_000,
        maxConcurrent: 512,
      });
      await stream.write(new Uint8Array([1, 2, 3]));
      stream.abort();
      await eventually(() => tls.admittedConnections === before - 1, "the connection closed");
      // The next session still works, on another connection.
      const payload = new Uint8Array([9, 8, 7]);
      assert.deepEqual(await session(payload), payload);
    });
  } finally {
    await nodes.stop();
    await libp2pSettled();
  }
});
