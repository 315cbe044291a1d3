/**
 * Property tests against a live SOCKS5 listener (docs/proxy-behaviour.md#handshake; bad input
 * never takes a process down or leaks a session): random bytes and mutated
 * valid greetings/requests, each on its own connection, must end in a reply
 * or a close within a bounded time. Afterwards the listener still serves a
 * good session end to end, the proxy's and exit's open file descriptors are
 * back near their baseline, and every name the fuzzing made up was answered
 * by the exit's static map: not one reached the system resolver.
 *
 * @module
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { AUTH_METHOD, encodeGreeting, encodeRequest } from "../core/codec/socks5.ts";
import { freePort, type NodeProcess, startExit, startProxy } from "../scripts/cluster.ts";
import { assertOnlyStaticLookups } from "./_no_dns.ts";
import { startEchoServer, writeFully } from "./_servers.ts";
import { connectLocal, ConnReader, openSocks, waitUntil } from "./_socks_client.ts";

/** Cases per property: a few thousand in total keeps the file well under a minute. */
const RANDOM_RUNS = 2_000;
const MUTATION_RUNS = 2_000;
/**
 * Bound on one case: a case ends at the client's EOF (we half-close after
 * writing), at the 2 s handshake timeout or the exit's 2 s connect timeout; a
 * mutated name is answered at once by the exit's static map.
 */
const CASE_WAIT_MS = 8_000;
/** The one name the exit's static map knows besides localhost: the echo server's. */
const DEST_NAME = "dest.test";
/** Descriptors a process may hold above its baseline once every session ended (timers, epoll…). */
const FD_SLACK = 8;
/** How long the processes get to close what the fuzzing opened. */
const FD_SETTLE_MS = 10_000;

const HELLO = new TextEncoder().encode("hello");

/** Open descriptors of a process (Linux). */
function openFds(pid: number): number {
  let count = 0;
  for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) count++;
  return count;
}

/** Sends `bytes` on a fresh connection, half-closes, and reads until the server closes. */
async function sendAndExpectEnd(port: number, bytes: Uint8Array): Promise<void> {
  const reader = new ConnReader(await connectLocal(port));
  try {
    // The server may close before it read everything (a bad version byte): write errors are fine.
    await writeFully(reader.conn, bytes).catch(() => {});
    await reader.conn.closeWrite().catch(() => {});
    await reader.toEnd(CASE_WAIT_MS, `the server's answer to ${bytesToHex(bytes)}`);
  } finally {
    reader.close();
  }
}

function bytesToHex(bytes: Uint8Array): string {
  const hex = [...bytes.subarray(0, 48)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  return bytes.byteLength > 48 ? `${hex} … (${bytes.byteLength} bytes)` : hex;
}

/** A valid greeting + CONNECT (+ early data) and the offsets of its address bytes. */
function validMessages(
  methods: number[],
  host: string,
  port: number,
): { bytes: Uint8Array; protectedOffsets: Set<number> } {
  const greeting = encodeGreeting(methods);
  const request = encodeRequest({ command: "connect", host, port });
  const bytes = new Uint8Array([...greeting, ...request, ...HELLO]);
  // VER CMD RSV ATYP, then the address: rewriting an address byte alone could aim the exit at
  // a public address on the one allowed port, so those bytes are only moved, never rewritten.
  const start = greeting.byteLength + 4;
  const addressBytes = request[3] === 0x01 ? 4 : request[3] === 0x04 ? 16 : 0;
  const protectedOffsets = new Set<number>();
  for (let i = 0; i < addressBytes; i++) protectedOffsets.add(start + i);
  return { bytes, protectedOffsets };
}

type Mutation =
  | { kind: "set"; at: number; byte: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "delete"; at: number; count: number }
  | { kind: "truncate"; at: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant("set" as const),
    at: fc.nat(),
    byte: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({
    kind: fc.constant("delete" as const),
    at: fc.nat(),
    count: fc.integer({ min: 1, max: 4 }),
  }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
);

/** Applies byte rewrites first (on the original layout), then the structural edits in order. */
function mutate(
  original: { bytes: Uint8Array; protectedOffsets: Set<number> },
  mutations: readonly Mutation[],
): Uint8Array {
  const bytes = [...original.bytes];
  for (const m of mutations) {
    if (m.kind !== "set") continue;
    const at = m.at % bytes.length;
    if (!original.protectedOffsets.has(at)) bytes[at] = m.byte;
  }
  let out = bytes;
  for (const m of mutations) {
    const at = out.length === 0 ? 0 : m.at % (out.length + 1);
    if (m.kind === "insert") out = [...out.slice(0, at), ...m.bytes, ...out.slice(at)];
    if (m.kind === "delete") out = [...out.slice(0, at), ...out.slice(at + m.count)];
    if (m.kind === "truncate") out = out.slice(0, at);
  }
  return Uint8Array.from(out);
}

Deno.test("SOCKS5 listener under random and mutated input", async (t) => {
  const echo = startEchoServer();
  const nodes: NodeProcess[] = [];
  try {
    const exit = await startExit({
      // Loopback on the echo port only: a mutated request can never send the exit elsewhere.
      egress: { allow_cidrs: ["127.0.0.0/8"], allow_ports: [echo.port] },
      limits: { connect_timeout_secs: 2 },
      // Mutated names resolve through this map only (any other name: not found, at once).
      plugins: { "@p2proxy/resolver-static": { hosts: { [DEST_NAME]: ["127.0.0.1"] } } },
    }, { logLevel: "debug" }); // each lookup leaves a debug line: see tests/_no_dns.ts
    nodes.push(exit);
    const socksPort = freePort();
    const proxy = await startProxy({
      servers: [{ port: socksPort, destination_peers: [exit.address], handshake_timeout_secs: 2 }],
    });
    nodes.push(proxy);

    const goodSession = async () => {
      // By name: the exit resolves it through its static map.
      const session = await openSocks({ proxyPort: socksPort, host: DEST_NAME, port: echo.port });
      try {
        await writeFully(session.conn, HELLO);
        const back = await session.reader.exactly(HELLO.byteLength, CASE_WAIT_MS, "the echo");
        assert.deepEqual(back, HELLO);
      } finally {
        session.reader.close();
      }
    };
    // Warm up (the libp2p connection, the first stream) before taking the baseline.
    await goodSession();
    await waitUntil(() => echo.active === 0, CASE_WAIT_MS, "the warm-up session to end");
    const baseline = { proxy: openFds(proxy.child.pid), exit: openFds(exit.child.pid) };

    await t.step(`random bytes (${RANDOM_RUNS} connections): a reply or a close`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.uint8Array({ minLength: 0, maxLength: 600 }),
            // Mostly-SOCKS prefixes reach deeper into the parser than uniform noise.
            fc.uint8Array({ minLength: 0, maxLength: 40 }).map((tail) =>
              Uint8Array.from([5, ...tail])
            ),
          ),
          (bytes) => sendAndExpectEnd(socksPort, bytes),
        ),
        { numRuns: RANDOM_RUNS },
      );
    });

    await t.step(`mutated greetings and requests (${MUTATION_RUNS} connections)`, async () => {
      const bases = [
        validMessages([AUTH_METHOD.noAuth], "127.0.0.1", echo.port),
        validMessages([AUTH_METHOD.userPass, AUTH_METHOD.noAuth], "127.0.0.1", echo.port),
        validMessages([AUTH_METHOD.noAuth], "::1", echo.port),
        // A name: mutating its bytes makes up names the exit must resolve.
        validMessages([AUTH_METHOD.noAuth], DEST_NAME, echo.port),
      ];
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...bases),
          fc.array(mutationArb, { minLength: 0, maxLength: 4 }),
          (base, mutations) => sendAndExpectEnd(socksPort, mutate(base, mutations)),
        ),
        { numRuns: MUTATION_RUNS },
      );
    });

    await t.step("every name was answered by the static map, none by the system", () => {
      assertOnlyStaticLookups(exit.logs(), [DEST_NAME]);
    });

    await t.step("afterwards: a good session works and nothing was left open", async () => {
      await goodSession();
      await waitUntil(() => echo.active === 0, FD_SETTLE_MS, "every destination connection to end");
      let now = { proxy: 0, exit: 0 };
      await waitUntil(
        () => {
          now = { proxy: openFds(proxy.child.pid), exit: openFds(exit.child.pid) };
          return now.proxy <= baseline.proxy + FD_SLACK && now.exit <= baseline.exit + FD_SLACK;
        },
        FD_SETTLE_MS,
        "the proxy's and exit's descriptors to return to their baseline",
      ).catch((error) => {
        throw new Error(
          `${error.message} Baseline ${JSON.stringify(baseline)}, now ${JSON.stringify(now)}.`,
        );
      });
    });
  } finally {
    for (const node of nodes.reverse()) await node.stop(5_000);
    await echo.close();
  }
});
