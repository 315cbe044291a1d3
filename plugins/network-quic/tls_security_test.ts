/**
 * The exit's TLS listener under attack, driven by hand on 127.0.0.1: a real QuicServer with its
 * TLS listener, and raw TLS clients that present what they like — the wrong certificate pin, a
 * replayed or stolen ticket, a resume key for someone else, nothing at all.
 */
import assert from "node:assert/strict";
import type { PeerId } from "../../core/ids.ts";
import type { DuplexStream } from "../../core/ports/stream_opener.ts";
import { QuicHelloReplySchema, QuicHelloSchema } from "../../proto/gen/p2proxy/quic/v1/quic_pb.ts";
import { FileIdentity } from "../identity-file/file_identity.ts";
import { deadlineSignal } from "./abortable.ts";
import { certificatePem, makeSelfSignedCertificate } from "./certificate.ts";
import { HELLO_TIMEOUT_MS, QUIC_ALPN, QUIC_SERVER_NAME } from "./constants.ts";
import { frameOf, readMessage } from "./messages.ts";
import { QuicServer } from "./quic_server.ts";
import { startStream } from "./stream_start.ts";
import { type StreamConn, TlsDuplexStream } from "./tls_stream.ts";

/** Bound on every wait: a broken listener fails the test in seconds, not by hanging. */
const WAIT_MS = 5_000;

const ECHO = "/p2proxy-test/echo/1.0.0";

const PEER_A: PeerId = (await FileIdentity.generate()).peerId;
const PEER_B: PeerId = (await FileIdentity.generate()).peerId;

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

function closeQuietly(conn: StreamConn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/** An exit's endpoint with its TLS listener, serving an echo that notes who it served. */
class Exit {
  readonly servedPeers: PeerId[] = [];
  readonly #handlers: Promise<void>[] = [];
  readonly #clients = new Set<StreamConn>();
  readonly #certPem: string;

  private constructor(readonly server: QuicServer) {
    // The certificate a proxy pins, from an offer (whose ticket goes unused).
    this.#certPem = certificatePem(server.offer(PEER_A).certificate);
    server.handle(ECHO, (stream, remote) => {
      this.servedPeers.push(remote.peerId);
      this.#handlers.push(echo(stream));
    });
  }

  static async start(helloTimeoutMs?: number): Promise<Exit> {
    const server = await QuicServer.start({
      hostname: "127.0.0.1",
      port: 0,
      tlsPort: 0,
      ...(helloTimeoutMs === undefined ? {} : { helloTimeoutMs }),
    });
    assert.ok(server.tls, "the TLS listener must be up");
    return new Exit(server);
  }

  get tlsPort(): number {
    return this.server.tls!.port;
  }

  /** A TLS connection to the listener, pinning `certPem` (default: the exit's own). */
  async dial(certPem?: string): Promise<Deno.TlsConn> {
    const tcp = await within(
      Deno.connect({ hostname: "127.0.0.1", port: this.tlsPort }),
      "the TCP connect",
    );
    const tls = Deno.startTls(tcp, {
      hostname: QUIC_SERVER_NAME,
      caCerts: [certPem ?? this.#certPem],
      alpnProtocols: [QUIC_ALPN],
    });
    const conn = await within(tls, "startTls").catch((error) => {
      closeQuietly(tcp);
      throw error;
    });
    this.#clients.add(conn);
    return conn;
  }

  async stop(): Promise<void> {
    for (const conn of this.#clients) closeQuietly(conn);
    await this.server.stop();
    await within(Promise.allSettled(this.#handlers), "the echo handlers");
  }
}

async function echo(stream: DuplexStream): Promise<void> {
  try {
    const parts: Uint8Array[] = [];
    for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read()) {
      parts.push(chunk.slice());
    }
    for (const part of parts) await stream.write(part);
    await stream.closeWrite();
  } catch {
    stream.abort();
  }
}

/** What came of a hello: the reply, and how the hello stream ended. */
interface HelloOutcome {
  readonly admitted: boolean;
  readonly message: string;
  readonly resumeKey: Uint8Array;
  /** "clean": the exit ended the hello stream and kept the connection; "closed": it closed it. */
  readonly end: "clean" | "closed";
  /** The connection and what came behind the hello, when it ended cleanly. */
  readonly rest: Uint8Array;
}

/** Sends a hello on a fresh connection and reads the exit's answer to the end of the stream. */
async function hello(
  conn: Deno.TlsConn,
  admission: { ticket?: Uint8Array; resumeKey?: Uint8Array },
  peerId: PeerId,
): Promise<HelloOutcome> {
  const settled = Promise.withResolvers<Uint8Array | null>();
  const stream = new TlsDuplexStream(
    conn,
    undefined,
    (_conn, rest) => settled.resolve(rest),
    () => settled.resolve(null),
  );
  const deadline = deadlineSignal(WAIT_MS);
  try {
    await within(
      stream.writeAndClose(frameOf(QuicHelloSchema, { ...admission, peerId })),
      "the hello",
    );
    const { message: reply, stream: after } = await readMessage(
      stream,
      QuicHelloReplySchema,
      deadline.signal,
    );
    const end = await within(after.read(), "the end of the hello stream").then(
      (chunk) => {
        assert.equal(chunk, null, "nothing but the reply on the hello stream");
        return "clean" as const;
      },
      () => "closed" as const,
    );
    const rest = await within(settled.promise, "the hello stream's settling");
    return {
      admitted: reply.admitted,
      message: reply.message,
      resumeKey: reply.resumeKey,
      end,
      rest: rest ?? new Uint8Array(0),
    };
  } finally {
    deadline.clear();
  }
}

/** Runs one echo stream on an admitted connection: proof that it serves streams. */
async function echoOn(
  conn: Deno.TlsConn,
  rest: Uint8Array,
  payload: Uint8Array,
): Promise<Uint8Array> {
  const outcome = Promise.withResolvers<"settled" | "failed">();
  const raw = new TlsDuplexStream(
    conn,
    rest,
    () => outcome.resolve("settled"),
    () => outcome.resolve("failed"),
  );
  const deadline = deadlineSignal(WAIT_MS);
  try {
    const stream = await startStream(raw, {
      protocol: ECHO,
      peer: PEER_A,
      signal: deadline.signal,
      lazy: false,
      carrier: "TLS",
    });
    await within(stream.write(payload), "the echo write");
    await within(stream.closeWrite(), "the echo's end");
    const parts: number[] = [];
    while (true) {
      const chunk = await within(stream.read(), "the echo's read");
      if (chunk === null) break;
      parts.push(...chunk);
    }
    assert.equal(await within(outcome.promise, "the echo stream's end"), "settled");
    return Uint8Array.from(parts);
  } finally {
    deadline.clear();
  }
}

Deno.test("a client pinning another certificate cannot complete the TLS handshake", async () => {
  const exit = await Exit.start();
  try {
    const other = await makeSelfSignedCertificate(QUIC_SERVER_NAME);
    const conn = await exit.dial(other.certPem);
    await assert.rejects(within(conn.handshake(), "the handshake"), /certificate|UnknownIssuer/i);
    // Control: the same dial pinning the exit's own certificate completes.
    const good = await exit.dial();
    await within(good.handshake(), "the handshake with the right pin");
    assert.equal(exit.server.tls!.admittedConnections, 0, "a handshake alone admits nothing");
  } finally {
    await exit.stop();
  }
});

Deno.test("a ticket admits once and the reply carries a 32-byte resume key; a replay is refused and closed", async () => {
  const exit = await Exit.start();
  try {
    const { ticket } = exit.server.offer(PEER_A);
    const first = await exit.dial();
    const admitted = await hello(first, { ticket }, PEER_A);
    assert.equal(admitted.admitted, true, admitted.message);
    assert.equal(admitted.end, "clean");
    assert.equal(admitted.resumeKey.byteLength, 32);
    const payload = new TextEncoder().encode("hello through the ticket's connection");
    assert.deepEqual(await echoOn(first, admitted.rest, payload), payload);
    assert.deepEqual(exit.servedPeers, [PEER_A], "the stream is served as the ticket's peer");

    const replay = await exit.dial();
    const refused = await hello(replay, { ticket }, PEER_A);
    assert.equal(refused.admitted, false, "a ticket admits once");
    assert.match(refused.message, /./, "a refusal says why");
    assert.equal(refused.resumeKey.byteLength, 0, "no key for a refused hello");
    assert.equal(refused.end, "closed", "the exit closes a refused connection");
  } finally {
    await exit.stop();
  }
});

Deno.test("a ticket issued to peer A presented as peer B is refused", async () => {
  const exit = await Exit.start();
  try {
    const { ticket } = exit.server.offer(PEER_A);
    const refused = await hello(await exit.dial(), { ticket }, PEER_B);
    assert.equal(refused.admitted, false);
    assert.equal(refused.resumeKey.byteLength, 0);
    assert.equal(refused.end, "closed");
    assert.deepEqual(exit.servedPeers, []);
  } finally {
    await exit.stop();
  }
});

Deno.test("the resume key admits further connections of its peer, not of another", async () => {
  const exit = await Exit.start();
  try {
    const { ticket } = exit.server.offer(PEER_A);
    const admitted = await hello(await exit.dial(), { ticket }, PEER_A);
    assert.equal(admitted.admitted, true, admitted.message);
    const resumeKey = admitted.resumeKey;

    const asB = await hello(await exit.dial(), { resumeKey }, PEER_B);
    assert.equal(asB.admitted, false, "a key issued to A does not admit B");
    assert.equal(asB.end, "closed");

    const second = await exit.dial();
    const resumed = await hello(second, { resumeKey }, PEER_A);
    assert.equal(resumed.admitted, true, resumed.message);
    assert.equal(resumed.end, "clean");
    assert.deepEqual(resumed.resumeKey, resumeKey, "the peer keeps its one key");
    const payload = new TextEncoder().encode("resumed");
    assert.deepEqual(await echoOn(second, resumed.rest, payload), payload);
    assert.deepEqual(exit.servedPeers, [PEER_A]);

    const forged = resumeKey.slice();
    forged[0]! ^= 1;
    const guessed = await hello(await exit.dial(), { resumeKey: forged }, PEER_A);
    assert.equal(guessed.admitted, false, "a key the exit never issued admits nobody");
    assert.equal(guessed.end, "closed");
  } finally {
    await exit.stop();
  }
});

Deno.test("after hangUp the resume key no longer admits, and the peer's connections are closed", async () => {
  const exit = await Exit.start();
  try {
    const { ticket } = exit.server.offer(PEER_A);
    const conn = await exit.dial();
    const admitted = await hello(conn, { ticket }, PEER_A);
    assert.equal(admitted.admitted, true, admitted.message);
    // The exit holds the connection as admitted once its side of the hello settled.
    await within(
      (async () => {
        while (exit.server.tls!.admittedConnections < 1) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      })(),
      "the exit's count of admitted connections",
    );

    exit.server.hangUp(PEER_A);
    assert.equal(exit.server.tls!.admittedConnections, 0);
    const buffer = new Uint8Array(16);
    // A TLS connection closed without close_notify may read as an error: an end all the same.
    const ended = await within(
      conn.read(buffer).catch(() => null),
      "the hung-up connection's end",
    );
    assert.equal(ended, null, "the exit closed the admitted connection");

    const after = await hello(await exit.dial(), { resumeKey: admitted.resumeKey }, PEER_A);
    assert.equal(after.admitted, false, "a hung-up peer's key is revoked");
    assert.equal(after.end, "closed");
  } finally {
    await exit.stop();
  }
});

Deno.test("a connection that says nothing is closed after the configured hello timeout", async () => {
  // Well above the default (QUIC's HELLO_TIMEOUT_MS, and whatever the TLS listener's own is,
  // up to a second): a listener ignoring the option closes before `stillOpenAtMs`.
  const helloTimeoutMs = 2_000;
  const stillOpenAtMs = helloTimeoutMs - 700;
  assert.ok(stillOpenAtMs > 2 * HELLO_TIMEOUT_MS);
  const exit = await Exit.start(helloTimeoutMs);
  try {
    const conn = await exit.dial();
    await within(conn.handshake(), "the handshake");
    const buffer = new Uint8Array(16);
    const closed = conn.read(buffer).then(() => "closed" as const, () => "closed" as const);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const early = await Promise.race([
      closed,
      new Promise<"open">((resolve) => timer = setTimeout(() => resolve("open"), stillOpenAtMs)),
    ]);
    clearTimeout(timer);
    assert.equal(early, "open", `closed before the configured ${helloTimeoutMs} ms`);
    assert.equal(
      await within(closed, "the silent connection's close", helloTimeoutMs + WAIT_MS),
      "closed",
    );
    assert.equal(exit.server.tls!.admittedConnections, 0);
  } finally {
    await exit.stop();
  }
});
