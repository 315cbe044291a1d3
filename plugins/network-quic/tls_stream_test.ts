import assert from "node:assert/strict";
import { END_FRAME, framed, frameHeader } from "./data_frames.ts";
import { type StreamConn, TlsDuplexStream } from "./tls_stream.ts";

/** Bound on every wait: a broken stream fails the test in seconds, not by hanging. */
const WAIT_MS = 5_000;

async function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms.`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Two ends of one real TCP connection on 127.0.0.1. */
async function tcpPair(): Promise<{ client: Deno.TcpConn; server: Deno.TcpConn }> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const [client, server] = await within(
      Promise.all([
        Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
        listener
          .accept(),
      ]),
      "the TCP connection",
    );
    return { client, server: server as Deno.TcpConn };
  } finally {
    listener.close();
  }
}

function closeQuietly(conn: StreamConn): void {
  try {
    conn.close();
  } catch {
    // Already closed (by the stream).
  }
}

/** Everything the stream delivers until its clean end. */
async function readAll(stream: TlsDuplexStream, what: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  while (true) {
    const chunk = await within(stream.read(), what);
    if (chunk === null) return concat(parts);
    parts.push(chunk.slice());
  }
}

/** Like {@link readAll}, through `readInto` with a small buffer. */
async function readAllInto(stream: TlsDuplexStream, what: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const target = new Uint8Array(1000);
  while (true) {
    const n = await within(stream.readInto(target), what);
    if (n === null) return concat(parts);
    parts.push(target.slice(0, n));
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/** `n` bytes of a pattern that differs from one offset to the next within 251 bytes. */
function pattern(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) % 251);
}

/** Records the calls of an `onSettled` callback. */
function settledLog() {
  const calls: { conn: StreamConn; rest: Uint8Array }[] = [];
  const first = Promise.withResolvers<{ conn: StreamConn; rest: Uint8Array }>();
  return {
    calls,
    first: first.promise,
    onSettled: (conn: StreamConn, rest: Uint8Array) => {
      calls.push({ conn, rest: rest.slice() });
      first.resolve({ conn, rest });
    },
  };
}

Deno.test("two streams one after another on one connection: bytes exact both ways, settled once per side after both ends", async () => {
  const { client, server } = await tcpPair();
  try {
    // Stream 1: the client sends a large upload (several receive buffers), the server replies.
    const upload = pattern(300_000, 1);
    const reply1 = pattern(5_000, 2);
    const clientLog1 = settledLog();
    const serverLog1 = settledLog();
    const client1 = new TlsDuplexStream(client, undefined, clientLog1.onSettled);
    const server1 = new TlsDuplexStream(server, undefined, serverLog1.onSettled);

    const [received] = await Promise.all([
      readAll(server1, "the server's read of the upload"),
      (async () => {
        await within(client1.write(upload), "the client's upload");
        await within(client1.closeWrite(), "the client's end marker");
      })(),
    ]);
    assert.deepEqual(received, upload);
    assert.equal(
      clientLog1.calls.length,
      0,
      "the client sent its end, but has not read the server's",
    );
    assert.equal(serverLog1.calls.length, 0, "the server read the client's end, but sent none");

    // The server replies and ends; it is settled at once (it read the client's end already).
    await within(server1.writeAndClose(reply1), "the server's reply");
    assert.equal(serverLog1.calls.length, 1);
    assert.equal(serverLog1.calls[0]!.conn, server, "the server's connection comes back");
    assert.equal(serverLog1.calls[0]!.rest.byteLength, 0, "the client sent nothing after its end");

    // Stream 2, started by the server right away: its first frame is on the wire before the
    // client has even read the end of stream 1.
    const serverLog2 = settledLog();
    const server2 = new TlsDuplexStream(
      serverLog1.calls[0]!.conn,
      serverLog1.calls[0]!.rest,
      serverLog2.onSettled,
    );
    const download = pattern(70_000, 3);
    const firstPiece = download.subarray(0, 100);
    await within(server2.write(firstPiece), "the server's first write of stream 2");

    assert.deepEqual(await readAll(client1, "the client's read of the reply"), reply1);
    const clientSettled1 = await within(clientLog1.first, "the client's onSettled");
    assert.equal(clientSettled1.conn, client, "the client's connection comes back");
    assert.deepEqual(
      clientSettled1.rest,
      framed(firstPiece),
      "rest is what came behind the server's end marker: stream 2's first frame",
    );
    assert.equal(await within(client1.read(), "a read after the end"), null, "ended stays ended");
    assert.equal(clientLog1.calls.length, 1, "onSettled fires once");
    assert.equal(serverLog1.calls.length, 1, "onSettled fires once");
    await assert.rejects(client1.write(new Uint8Array([1])), "a settled stream takes no writes");

    // Stream 2 on the client: it starts from the rest; read through readInto this time.
    const clientLog2 = settledLog();
    const client2 = new TlsDuplexStream(
      clientSettled1.conn,
      clientSettled1.rest,
      clientLog2.onSettled,
    );
    const reply2 = pattern(3_000, 4);
    const [downloaded] = await Promise.all([
      readAllInto(client2, "the client's read of stream 2"),
      (async () => {
        await within(server2.write(download.subarray(100)), "the rest of the download");
        await within(server2.closeWrite(), "the server's end of stream 2");
      })(),
    ]);
    assert.deepEqual(downloaded, download);
    assert.equal(serverLog2.calls.length, 0, "the server has not read the client's end yet");
    await within(client2.write(reply2), "the client's reply on stream 2");
    await within(client2.closeWrite(), "the client's end of stream 2");
    assert.deepEqual(clientLog2.calls.map((call) => call.rest.byteLength), [0]);
    assert.deepEqual(await readAll(server2, "the server's read of the client's reply"), reply2);
    assert.equal(serverLog2.calls.length, 1);
    assert.equal(serverLog2.calls[0]!.rest.byteLength, 0);

    // Neither stream closed the connection: it is still good for bytes both ways.
    await within(client.write(new Uint8Array([42])), "a raw write after both streams");
    const buffer = new Uint8Array(8);
    assert.equal(await within(server.read(buffer), "a raw read after both streams"), 1);
    assert.equal(buffer[0], 42);
  } finally {
    closeQuietly(client);
    closeQuietly(server);
  }
});

Deno.test("without onSettled, a settled stream closes its connection", async () => {
  const { client, server } = await tcpPair();
  try {
    const clientStream = new TlsDuplexStream(client);
    const serverStream = new TlsDuplexStream(server);
    await within(clientStream.writeAndClose(new Uint8Array([1, 2])), "the client's write");
    assert.deepEqual(await readAll(serverStream, "the server's read"), new Uint8Array([1, 2]));
    await within(serverStream.closeWrite(), "the server's end");
    assert.deepEqual(await readAll(clientStream, "the client's read"), new Uint8Array(0));
    // Both closed their connection: closing again is an error.
    assert.throws(() => client.close(), Deno.errors.BadResource);
    assert.throws(() => server.close(), Deno.errors.BadResource);
  } finally {
    closeQuietly(client);
    closeQuietly(server);
  }
});

Deno.test("abort on one side fails the other side's read (a reset, not an end), and settles nothing", async () => {
  const { client, server } = await tcpPair();
  try {
    const settled: string[] = [];
    const failed: string[] = [];
    const clientStream = new TlsDuplexStream(
      client,
      undefined,
      () => settled.push("client"),
      () => failed.push("client"),
    );
    const serverStream = new TlsDuplexStream(
      server,
      undefined,
      () => settled.push("server"),
      () => failed.push("server"),
    );
    await within(clientStream.write(new Uint8Array([1, 2, 3])), "the client's write");
    assert.deepEqual(
      await within(serverStream.read(), "the server's read"),
      new Uint8Array([1, 2, 3]),
    );
    // The server has even sent its end: only the client's end is missing.
    await within(serverStream.closeWrite(), "the server's end");
    clientStream.abort(new Error("the client gave up"));
    await assert.rejects(within(serverStream.read(), "the server's read after the abort"));
    await assert.rejects(within(clientStream.read(), "the client's read after its abort"), {
      message: "the client gave up",
    });
    await assert.rejects(clientStream.write(new Uint8Array([4])), {
      message: "the client gave up",
    });
    assert.deepEqual(settled, [], "no onSettled on either side");
    assert.deepEqual(failed.toSorted(), ["client", "server"]);
    // Both connections were closed by their streams.
    assert.throws(() => client.close(), Deno.errors.BadResource);
    assert.throws(() => server.close(), Deno.errors.BadResource);
  } finally {
    closeQuietly(client);
    closeQuietly(server);
  }
});

Deno.test("a connection that closes without the end marker fails the read, between frames or inside one", async (t) => {
  const first = framed(new Uint8Array([5, 6, 7]));
  for (
    const [name, wire, delivered] of [
      ["between frames", first, [5, 6, 7]],
      // What arrived of a frame is delivered; the close then fails the read.
      ["inside a frame", concat([first, frameHeader(100), new Uint8Array(10).fill(8)]), [
        5,
        6,
        7,
        ...new Array(10).fill(8),
      ]],
      ["inside a header", concat([first, END_FRAME.subarray(0, 2)]), [5, 6, 7]],
    ] as const
  ) {
    await t.step(name, async () => {
      const { client, server } = await tcpPair();
      try {
        let settled = 0;
        let failed = 0;
        const serverStream = new TlsDuplexStream(
          server,
          undefined,
          () => settled++,
          () => failed++,
        );
        await within(client.write(wire), "the raw write");
        client.close();
        const received: Uint8Array[] = [];
        const error = await within(
          (async () => {
            while (true) {
              const chunk = await serverStream.read();
              assert.notEqual(chunk, null, "a connection closed mid-stream is no clean end");
              received.push(chunk!.slice());
            }
          })().then(() => undefined, (error: unknown) => error),
          "the read at the close",
        );
        assert.ok(error instanceof Error && !(error instanceof assert.AssertionError), `${error}`);
        assert.deepEqual(concat(received), Uint8Array.from(delivered));
        await assert.rejects(within(serverStream.read(), "a read after the failure"));
        assert.equal(settled, 0);
        assert.equal(failed, 1, "the failure is reported once");
        assert.throws(() => server.close(), Deno.errors.BadResource, "the stream closed it");
      } finally {
        closeQuietly(client);
        closeQuietly(server);
      }
    });
  }
});

Deno.test("the proxy's side nudges when the exit paused and it wrote nothing since, and only then", async () => {
  const { client, server } = await tcpPair();
  const proxy = new TlsDuplexStream(client, undefined, undefined, undefined, true);
  /** The next raw bytes the exit's side receives. */
  const rawNext = async (what: string): Promise<Uint8Array> => {
    const buffer = new Uint8Array(64);
    const n = await within(server.read(buffer), what);
    return n === null ? new Uint8Array(0) : buffer.slice(0, n);
  };
  try {
    // The exit sends a frame and pauses; the proxy reads it and waits for more: a nudge follows.
    await server.write(framed(new Uint8Array([1, 2, 3])));
    assert.deepEqual(await within(proxy.read(), "the frame"), new Uint8Array([1, 2, 3]));
    const waiting = proxy.read();
    assert.deepEqual(await rawNext("a nudge"), frameHeader(0xffff_ffff));

    // Again, but the proxy writes within the delay: its write carries the ACK, no nudge.
    await server.write(framed(new Uint8Array([4])));
    assert.deepEqual(await within(waiting, "the second frame"), new Uint8Array([4]));
    const waitingAgain = proxy.read();
    await proxy.write(new Uint8Array([9]));
    assert.deepEqual(await rawNext("the write"), framed(new Uint8Array([9])), "no nudge");

    // The exit's end marker settles nothing here (the proxy has not ended): the read ends.
    await server.write(END_FRAME);
    assert.equal(await within(waitingAgain, "the end"), null);
    await proxy.closeWrite();
    // Nothing came between the write and our end marker: no late nudge either.
    assert.deepEqual(await rawNext("the end marker"), END_FRAME);
  } finally {
    closeQuietly(client);
    closeQuietly(server);
  }
});
