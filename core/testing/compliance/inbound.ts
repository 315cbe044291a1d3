/**
 * Compliance suite of the inbound port (`InboundProtocol`, the `inbound` capability): any door —
 * the built-in SOCKS5 one, or a third party's HTTP CONNECT or SOCKS4 — runs it against itself.
 * The door serves in-memory connections (no sockets) against a scripted session router; the
 * fixture brings a client for its protocol, which asks to connect and says whether the door
 * answered success.
 *
 * @example
 * ```ts
 * import { inboundCompliance } from "@p2proxy/p2proxy/testing";
 *
 * Deno.test("the SOCKS5 door is an inbound protocol", (t) =>
 *   inboundCompliance(t, () => ({ protocol: SOCKS5_INBOUND, connect: socks5Connect })));
 * ```
 *
 * @module
 */
import assert from "node:assert/strict";
import type { ServerConfig } from "../../config/proxy_config.ts";
import { NO_FILTERS } from "../../domain/attributes.ts";
import type {
  ClientConnection,
  InboundProtocol,
  SessionOutcome,
  SessionRequest,
} from "../../ports/inbound.ts";
import type { DuplexStream } from "../../ports/stream_opener.ts";
import { aPeerId } from "../builders.ts";
import { RecordingSink } from "../fakes.ts";
import { memoryConnectionPair, memoryStreamPair } from "../memory_duplex.ts";
import { type Awaitable, type Releasable, withFixture } from "./_harness.ts";
import type { TestContext } from "./_test_context.ts";

/** What an inbound factory hands the suite. */
export interface InboundFixture extends Releasable {
  /** The door under test. */
  readonly protocol: InboundProtocol;
  /**
   * Speaks the protocol's client side on `conn`: asks to reach `target` and resolves true once
   * the door answered success (the connection then carries the destination's bytes), false
   * when it answered a failure. It must not close `conn`.
   */
  readonly connect: (
    conn: ClientConnection,
    target: { readonly host: string; readonly port: number },
  ) => Promise<boolean>;
  /** Bytes no client of this protocol sends first (default: eight 0xff bytes). */
  readonly garbage?: Uint8Array;
}

/** The longest any step waits for the door; a door that hangs fails the step in this time. */
const STEP_BOUND_MS = 5_000;

/** The handshake deadline of the suite's server, short so the silent-client step is quick. */
const HANDSHAKE_TIMEOUT_MS = 100;

/** The target every step asks for. */
const TARGET = { host: "dest.test", port: 8443 } as const;

/** The port the suite's server is configured on. */
const PORT = 10_80;

/** The server settings the door's handler is built for. */
function suiteServer(protocol: string): ServerConfig {
  return {
    protocol: protocol as ServerConfig["protocol"],
    port: PORT,
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
    openTimeoutMs: STEP_BOUND_MS,
    idleTimeoutMs: 0,
    handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
    fingerprint: "suite",
  };
}

/** A router that answers from a script and records what it was asked. */
class ScriptedRouter {
  readonly requests: SessionRequest[] = [];
  /** The exit's end of each stream handed out. */
  readonly exitEnds: DuplexStream[] = [];
  readonly #answer: "ok" | "refuse";

  constructor(answer: "ok" | "refuse") {
    this.#answer = answer;
  }

  open(request: SessionRequest): Promise<SessionOutcome> {
    this.requests.push(request);
    if (this.#answer === "refuse") {
      return Promise.resolve({
        ok: false,
        replyCode: 5,
        stage: "refused",
        message: "The destination refused the connection.",
        peerId: aPeerId(1),
      });
    }
    const [proxyEnd, exitEnd] = memoryStreamPair();
    this.exitEnds.push(exitEnd);
    return Promise.resolve({
      ok: true,
      stream: proxyEnd,
      peerId: aPeerId(1),
      boundHost: "192.0.2.1",
      boundPort: 40_000,
    });
  }
}

/** One door serving one in-memory connection. */
interface Served {
  readonly client: ClientConnection;
  readonly router: ScriptedRouter;
  readonly events: RecordingSink;
  readonly abort: AbortController;
  /** Settles when the handler returned; the server end is closed then, as a listener does. */
  readonly done: Promise<void>;
}

function serve(protocol: InboundProtocol, answer: "ok" | "refuse"): Served {
  const [client, server] = memoryConnectionPair();
  const router = new ScriptedRouter(answer);
  const events = new RecordingSink();
  const abort = new AbortController();
  const handler = protocol.handler(suiteServer(protocol.protocol), { router, events });
  const done = handler(server, abort.signal).finally(() => server.close());
  return { client, router, events, abort, done };
}

/** `promise`, or a failure naming `what` after {@link STEP_BOUND_MS}. */
async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not happen within ${STEP_BOUND_MS} ms.`)),
      STEP_BOUND_MS,
    );
  });
  try {
    return await Promise.race([promise, bound]);
  } finally {
    clearTimeout(timer);
  }
}

async function readText(conn: ClientConnection): Promise<string | null> {
  const buffer = new Uint8Array(1024);
  const n = await conn.read(buffer);
  return n === null ? null : new TextDecoder().decode(buffer.subarray(0, n));
}

const encode = (text: string) => new TextEncoder().encode(text);

/**
 * Runs the inbound compliance steps: the declaration is well formed; a request reaches the
 * router with the configured port, the target and a session id, and after success bytes flow
 * both ways with half-close; a refusal is told to the client and ends the session; bytes that
 * are not the protocol, a client that leaves early, and a silent client past the handshake
 * deadline all end the session without asking the router; aborting the signal ends a relaying
 * session and resets the exit's stream. Every wait is bounded.
 */
export async function inboundCompliance(
  t: TestContext,
  make: () => Awaitable<InboundFixture>,
): Promise<void> {
  await t.step(
    "declares a protocol name and the bytes its clients start with",
    () =>
      withFixture(make, ({ protocol }) => {
        assert.match(protocol.protocol, /^[a-z][a-z0-9-]*$/, "a lower-case protocol name");
        for (const byte of protocol.firstBytes) {
          assert.ok(Number.isInteger(byte) && byte >= 0 && byte <= 255, `first byte ${byte}`);
        }
        return Promise.resolve();
      }),
  );

  await t.step(
    "a request reaches the router; after success bytes flow both ways",
    () =>
      withFixture(make, async ({ protocol, connect }) => {
        const served = serve(protocol, "ok");
        try {
          assert.equal(await within(connect(served.client, TARGET), "the reply"), true);
          const [request] = served.router.requests;
          assert.ok(request, "the router was asked");
          assert.deepEqual(
            [request.port, request.host, request.targetPort],
            [PORT, TARGET.host, TARGET.port],
          );
          assert.ok(request.sessionId.length > 0, "a session id");
          const exit = served.router.exitEnds[0]!;
          await served.client.write(encode("ping"));
          const up = await within(exit.read(), "client → exit");
          assert.equal(new TextDecoder().decode(up!), "ping");
          await exit.write(encode("pong"));
          assert.equal(await within(readText(served.client), "exit → client"), "pong");
          // Half-close: the client's end reaches the exit, and the exit can still answer.
          await served.client.closeWrite();
          assert.equal(await within(exit.read(), "the client's end of data"), null);
          await exit.write(encode("late"));
          assert.equal(await within(readText(served.client), "an answer after half-close"), "late");
          await exit.closeWrite();
          assert.equal(await within(readText(served.client), "the exit's end of data"), null);
          await within(served.done, "the session's end");
        } finally {
          served.abort.abort();
          served.client.close();
          await served.done.catch(() => {});
        }
      }),
  );

  await t.step(
    "a refusal by the router is told to the client and ends the session",
    () =>
      withFixture(make, async ({ protocol, connect }) => {
        const served = serve(protocol, "refuse");
        try {
          assert.equal(await within(connect(served.client, TARGET), "the reply"), false);
          await within(served.done, "the session's end");
          assert.equal(served.router.requests.length, 1);
        } finally {
          served.client.close();
          await served.done.catch(() => {});
        }
      }),
  );

  await t.step(
    "bytes that are not the protocol end the session without a route",
    () =>
      withFixture(make, async ({ protocol, garbage }) => {
        const served = serve(protocol, "ok");
        try {
          // A door may close before it read them all.
          await served.client.write(garbage ?? new Uint8Array(8).fill(0xff)).catch(() => {});
          await within(served.done, "the session's end");
          assert.equal(served.router.requests.length, 0, "the router was not asked");
        } finally {
          served.client.close();
          await served.done.catch(() => {});
        }
      }),
  );

  await t.step(
    "a client that leaves before its request costs nothing",
    () =>
      withFixture(make, async ({ protocol }) => {
        const served = serve(protocol, "ok");
        served.client.close();
        await within(served.done, "the session's end");
        assert.equal(served.router.requests.length, 0);
      }),
  );

  await t.step(
    "a silent client is dropped at the handshake deadline",
    () =>
      withFixture(make, async ({ protocol }) => {
        const served = serve(protocol, "ok");
        try {
          await within(served.done, "the end at the handshake deadline");
          assert.equal(served.router.requests.length, 0);
        } finally {
          served.client.close();
        }
      }),
  );

  await t.step(
    "aborting the signal ends a relaying session and resets the exit's stream",
    () =>
      withFixture(make, async ({ protocol, connect }) => {
        const served = serve(protocol, "ok");
        try {
          assert.equal(await within(connect(served.client, TARGET), "the reply"), true);
          const exit = served.router.exitEnds[0]!;
          served.abort.abort(new Error("The proxy is shutting down."));
          await within(served.done, "the session's end");
          await within(
            exit.read().then(() => {}, () => {}),
            "the exit's stream to end",
          );
        } finally {
          served.client.close();
          await served.done.catch(() => {});
        }
      }),
  );
}
