/**
 * Compliance suite of the `StreamOpener` port and the `DuplexStream`s it
 * opens: any transport the data plane relays over (the libp2p plugin, a QUIC
 * transport, a fake) runs it against itself with a peer that serves the
 * suite's protocols. Two parties: the factory starts the opener's side and
 * the peer's, and says how to serve a protocol on the peer.
 *
 * @example
 * ```ts
 * import { streamOpenerCompliance } from "@p2proxy/p2proxy/testing";
 *
 * Deno.test("MyTransport is a StreamOpener", (t) =>
 *   streamOpenerCompliance(t, async () => {
 *     const [node, remote] = await startTwoNodes();
 *     return {
 *       opener: node,
 *       peer: remote.peerId,
 *       serve: (protocol, handler) => remote.handle(protocol, (stream) => handler(stream)),
 *       cleanup: () => stopAll(node, remote),
 *     };
 *   }));
 * ```
 *
 * @module
 */
import type { TestContext } from "./_test_context.ts";
import assert from "node:assert/strict";
import type { PeerId } from "../../ids.ts";
import {
  type DuplexStream,
  type OpenOptions,
  StreamError,
  type StreamErrorCode,
  type StreamOpener,
} from "../../ports/stream_opener.ts";
import {
  type Awaitable,
  isOrWraps,
  outcomeOf,
  type Releasable,
  SETTLE_TIMEOUT_MS,
  withFixture,
  within,
} from "./_harness.ts";

/** What a stream opener factory hands the suite. */
export interface StreamOpenerFixture extends Releasable {
  /** The opener under test, started. */
  readonly opener: StreamOpener;
  /** A peer the opener reaches: already connected, or one `open` can dial. */
  readonly peer: PeerId;
  /**
   * Serves `protocol` on `peer` (and on `stalling.peer`): each stream opened
   * to it is handed to `handler`, on the serving side.
   */
  readonly serve: (protocol: string, handler: (stream: DuplexStream) => void) => Awaitable<void>;
  /**
   * A second peer whose opens hang while it stalls — those begun before
   * `unstall()` stay hung until their deadline or signal, as a dial to an
   * address that swallows bytes does — and complete once `unstall()` has
   * resolved. For the open-timeout, abort and concurrency-limit steps; leave
   * it out to skip them.
   */
  readonly stalling?: { readonly peer: PeerId; readonly unstall: () => Awaitable<void> };
  /**
   * The most bytes the opener's side and the peer's hold, together, for a
   * stream nobody reads before the peer's writes wait; default 16 MiB.
   */
  readonly maxUnreadBytes?: number;
}

/** Default of {@link StreamOpenerFixture.maxUnreadBytes}. */
const DEFAULT_MAX_UNREAD_BYTES = 16 * 1024 * 1024;

/** Protocol ids of the suite: one per behaviour, versioned like the project's own. */
const ECHO = "/p2proxy-compliance/echo/1.0.0";
const COUNT = "/p2proxy-compliance/count/1.0.0";
const GREET = "/p2proxy-compliance/greet/1.0.0";
const HOLD = "/p2proxy-compliance/hold/1.0.0";
const FLOOD = "/p2proxy-compliance/flood/1.0.0";
const UNSERVED = "/p2proxy-compliance/nobody-speaks-this/1.0.0";

/** Generous limits for opens that should succeed. */
const OPEN: Omit<OpenOptions, "protocol"> = { timeoutMs: SETTLE_TIMEOUT_MS, maxConcurrent: 8 };

/** The deadline of opens that must time out. */
const SHORT_TIMEOUT_MS = 200;

/** A write pending this long counts as waiting for the reader. */
const WRITE_STALL_MS = 250;

/** Chunks the flooding peer writes. */
const FLOOD_CHUNK_BYTES = 64 * 1024;

/** What the flooding peer writes after its writes start waiting, once the reader reads. */
const FLOOD_TAIL_BYTES = 1024 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `length` bytes of a pattern that starts at `offset`, so a reader can check order and loss. */
function patternBytes(offset: number, length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (offset + i) % 251);
}

/** Reads until the end; rejects when the stream fails or stays silent too long. */
async function readAll(stream: DuplexStream, what: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  while (true) {
    const chunk = await within(stream.read(), SETTLE_TIMEOUT_MS, `${what}: the next read`);
    if (chunk === null) break;
    chunks.push(chunk.slice());
  }
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** Serving side of ECHO: sends back what arrives, and half-closes after the end. */
async function echo(stream: DuplexStream): Promise<void> {
  try {
    for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read()) {
      await stream.write(chunk);
    }
    await stream.closeWrite();
  } catch {
    stream.abort();
  }
}

async function assertStreamError(
  promise: Promise<unknown>,
  code: StreamErrorCode,
  what: string,
): Promise<StreamError> {
  const outcome = await within(outcomeOf(promise), SETTLE_TIMEOUT_MS * 2, what);
  assert.ok(!outcome.ok, `${what} succeeded; expected StreamError ${code}`);
  const { error } = outcome;
  assert.ok(error instanceof StreamError, `${what}: expected a StreamError, got ${error}`);
  assert.equal(error.code, code, `${what}: ${error.message}`);
  return error;
}

/** True when `promise` rejects within the bound; it may not resolve. */
async function rejectsSoon(promise: Promise<unknown>, what: string): Promise<unknown> {
  const outcome = await within(outcomeOf(promise), SETTLE_TIMEOUT_MS, what);
  assert.ok(!outcome.ok, `${what} succeeded`);
  return outcome.error;
}

/**
 * Runs the `StreamOpener` compliance steps: a stream of a served protocol
 * carries bytes both ways, in order; `closeWrite` is a half-close in either
 * direction (the other side reads to the end, then still answers; reads stay
 * at `null`); a protocol the peer does not serve rejects with `StreamError`
 * `unsupported-protocol`, terminal for the peer; `abort` resets both
 * directions on both sides and may be repeated; a stream nobody reads makes
 * the peer's writes wait before `maxUnreadBytes`, and loses nothing once read;
 * an aborted signal rejects the open. With `stalling`: an open that cannot
 * complete rejects with `open-timeout` once `timeoutMs` pass; an abort while
 * it waits rejects it at once; while `maxConcurrent` opens to a peer are in
 * flight, another waits for a slot (and times out) even though it could
 * complete, an open to another peer does not wait, and an aborted open frees
 * its slot.
 */
export async function streamOpenerCompliance(
  t: TestContext,
  make: () => Awaitable<StreamOpenerFixture>,
): Promise<void> {
  let canStall = false;
  await t.step(
    "opens a stream of a served protocol; bytes flow both ways, in order",
    () =>
      withFixture(make, async ({ opener, peer, serve, stalling }) => {
        canStall = stalling !== undefined;
        await serve(ECHO, (stream) => void echo(stream));
        const stream = await opener.open(peer, { protocol: ECHO, ...OPEN });
        const sent = [patternBytes(0, 5), patternBytes(5, 70_000), patternBytes(70_005, 1)];
        const reading = readAll(stream, "The echo");
        for (const chunk of sent) await within(stream.write(chunk), SETTLE_TIMEOUT_MS, "A write");
        await stream.closeWrite();
        assert.deepEqual(await reading, patternBytes(0, 70_006), "the echo differs");
      }),
  );

  await t.step(
    "closeWrite is a half-close: the peer reads to the end, then still answers",
    () =>
      withFixture(make, async ({ opener, peer, serve }) => {
        await serve(COUNT, async (stream) => {
          try {
            const received = await readAll(stream, "The peer");
            await stream.write(encoder.encode(`${received.byteLength}`));
            await stream.closeWrite();
          } catch {
            stream.abort();
          }
        });
        const stream = await opener.open(peer, { protocol: COUNT, ...OPEN });
        await stream.write(patternBytes(0, 100_000));
        await stream.closeWrite();
        const answer = await readAll(stream, "The count");
        assert.equal(decoder.decode(answer), "100000", "the peer did not read everything");
        assert.equal(await stream.read(), null, "a read after the end must stay null");
      }),
  );

  await t.step(
    "the peer's closeWrite ends our reads, and our writes still reach it",
    () =>
      withFixture(make, async ({ opener, peer, serve }) => {
        const heard = Promise.withResolvers<string>();
        await serve(GREET, async (stream) => {
          try {
            await stream.write(encoder.encode("hello"));
            await stream.closeWrite();
            heard.resolve(decoder.decode(await readAll(stream, "The peer")));
          } catch (error) {
            heard.reject(error);
          }
        });
        heard.promise.catch(() => {});
        const stream = await opener.open(peer, { protocol: GREET, ...OPEN });
        assert.equal(decoder.decode(await readAll(stream, "The greeting")), "hello");
        await stream.write(encoder.encode("after your end"));
        await stream.closeWrite();
        assert.equal(
          await within(heard.promise, SETTLE_TIMEOUT_MS, "The peer reading our reply"),
          "after your end",
        );
      }),
  );

  await t.step(
    "a protocol the peer does not serve rejects with StreamError unsupported-protocol",
    () =>
      withFixture(make, async ({ opener, peer, serve }) => {
        await serve(ECHO, (stream) => void echo(stream));
        const error = await assertStreamError(
          opener.open(peer, { protocol: UNSERVED, ...OPEN }),
          "unsupported-protocol",
          "An open of an unserved protocol",
        );
        assert.ok(error.isTerminalForPeer, "an unsupported protocol is terminal for the peer");
        assert.ok(error.message.includes(UNSERVED), "the message must quote the protocol");
      }),
  );

  await t.step(
    "abort resets both directions, on both sides, and may be repeated",
    () =>
      withFixture(make, async ({ opener, peer, serve }) => {
        const served: DuplexStream[] = [];
        const arrived = Promise.withResolvers<void>();
        await serve(HOLD, (stream) => {
          served.push(stream);
          arrived.resolve();
        });
        // Ours aborts: our reads and writes fail at once, the peer's read fails.
        const ours = await opener.open(peer, { protocol: HOLD, ...OPEN });
        await ours.write(encoder.encode("x"));
        await within(arrived.promise, SETTLE_TIMEOUT_MS, "The peer getting the stream");
        const theirs = served[0]!;
        const theirRead = theirs.read().then((chunk) =>
          chunk !== null && chunk.byteLength > 0 ? theirs.read() : chunk
        );
        ours.abort(new Error("compliance: reset by the opener"));
        ours.abort();
        await rejectsSoon(ours.read(), "A read after our abort");
        await rejectsSoon(ours.write(encoder.encode("y")), "A write after our abort");
        await rejectsSoon(theirRead, "The peer's read after our abort (a reset is not an end)");
        theirs.abort();

        // The peer aborts: our pending read fails.
        const second = await opener.open(peer, { protocol: HOLD, ...OPEN });
        await second.write(encoder.encode("x"));
        await within(
          (async () => {
            while (served.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
          })(),
          SETTLE_TIMEOUT_MS,
          "The peer getting the second stream",
        );
        const pending = second.read();
        served[1]!.abort(new Error("compliance: reset by the peer"));
        await rejectsSoon(pending, "Our read after the peer's abort (a reset is not an end)");
        second.abort();
      }),
  );

  await t.step(
    "a stream nobody reads makes the peer's writes wait, and loses nothing once read",
    () =>
      withFixture(make, async ({ opener, peer, serve, maxUnreadBytes }) => {
        const bound = maxUnreadBytes ?? DEFAULT_MAX_UNREAD_BYTES;
        const waited = Promise.withResolvers<number>();
        const finished = Promise.withResolvers<number>();
        waited.promise.catch(() => {});
        finished.promise.catch(() => {});
        await serve(FLOOD, async (stream) => {
          let written = 0;
          let waitedAt: number | undefined;
          try {
            while (
              waitedAt === undefined ? written <= bound : written < waitedAt + FLOOD_TAIL_BYTES
            ) {
              const write = stream.write(patternBytes(written, FLOOD_CHUNK_BYTES));
              if (waitedAt === undefined) {
                const stalled = await stalls(write);
                if (stalled) {
                  waitedAt = written;
                  waited.resolve(written);
                }
              }
              await write;
              written += FLOOD_CHUNK_BYTES;
            }
            if (waitedAt === undefined) waited.resolve(written);
            await stream.closeWrite();
            finished.resolve(written);
          } catch (error) {
            waited.reject(error);
            finished.reject(error);
            stream.abort();
          }
        });
        const stream = await opener.open(peer, { protocol: FLOOD, ...OPEN });
        const before = await within(waited.promise, SETTLE_TIMEOUT_MS * 4, "The flood");
        assert.ok(
          before <= bound,
          `the peer wrote ${before} bytes to a stream nobody read and was never made to wait: ` +
            `buffering must stop it before ${bound} bytes`,
        );
        const received = await readAll(stream, "The flood");
        const total = await within(finished.promise, SETTLE_TIMEOUT_MS, "The flood's end");
        assert.equal(received.byteLength, total, "bytes were lost or added");
        assert.ok(
          received.every((byte, index) => byte === index % 251),
          "the bytes arrived out of order or corrupted",
        );
      }),
  );

  await t.step(
    "an aborted signal rejects the open",
    () =>
      withFixture(make, async ({ opener, peer, serve }) => {
        await serve(ECHO, (stream) => void echo(stream));
        const reason = new Error("compliance: aborted before opening");
        const error = await rejectsSoon(
          opener.open(peer, { protocol: ECHO, ...OPEN, signal: AbortSignal.abort(reason) }),
          "An open with an aborted signal",
        );
        assert.ok(
          isOrWraps(error, reason),
          `expected the signal's reason (or an error caused by it), got ${error}`,
        );
      }),
  );

  await t.step({
    name: "an open that cannot complete rejects with StreamError open-timeout",
    ignore: !canStall,
    fn: () =>
      withFixture(make, async ({ opener, serve, stalling }) => {
        await serve(ECHO, (stream) => void echo(stream));
        const error = await assertStreamError(
          opener.open(stalling!.peer, {
            protocol: ECHO,
            timeoutMs: SHORT_TIMEOUT_MS,
            maxConcurrent: 1,
          }),
          "open-timeout",
          `An open with a ${SHORT_TIMEOUT_MS} ms deadline`,
        );
        assert.ok(!error.isTerminalForPeer, "a timeout is not terminal for the peer");
      }),
  });

  await t.step({
    name: "an abort while the open waits rejects it at once",
    ignore: !canStall,
    fn: () =>
      withFixture(make, async ({ opener, serve, stalling }) => {
        await serve(ECHO, (stream) => void echo(stream));
        const controller = new AbortController();
        const reason = new Error("compliance: aborted while opening");
        const opening = opener.open(stalling!.peer, {
          protocol: ECHO,
          timeoutMs: SETTLE_TIMEOUT_MS * 6,
          maxConcurrent: 1,
          signal: controller.signal,
        });
        await new Promise((resolve) => setTimeout(resolve, 50));
        controller.abort(reason);
        const error = await rejectsSoon(opening, "An open aborted while it waits");
        assert.ok(
          error === reason || (error instanceof StreamError && !error.isTerminalForPeer),
          `expected the signal's reason or a StreamError that is not terminal, got ${error}`,
        );
      }),
  });

  await t.step({
    name: "at most maxConcurrent opens per peer are in flight; an aborted one frees its slot",
    ignore: !canStall,
    fn: () =>
      withFixture(make, async ({ opener, peer, serve, stalling }) => {
        await serve(ECHO, (stream) => void echo(stream));
        const one = { protocol: ECHO, maxConcurrent: 1 };
        const first = new AbortController();
        const hung = outcomeOf(opener.open(stalling!.peer, {
          ...one,
          timeoutMs: SETTLE_TIMEOUT_MS * 6,
          signal: first.signal,
        }));
        try {
          await new Promise((resolve) => setTimeout(resolve, 50));
          await stalling!.unstall();
          await assertStreamError(
            opener.open(stalling!.peer, { ...one, timeoutMs: SHORT_TIMEOUT_MS * 2 }),
            "open-timeout",
            "A second open while the only slot is taken",
          );
          const elsewhere = await opener.open(peer, { ...one, timeoutMs: SETTLE_TIMEOUT_MS });
          elsewhere.abort();
        } finally {
          // Also when a check above failed: the hung open must not outlive the step.
          first.abort(new Error("compliance: freeing the slot"));
        }
        const freed = await within(hung, SETTLE_TIMEOUT_MS, "The aborted first open");
        assert.ok(!freed.ok, "the first open, begun while the peer stalled, succeeded");
        const third = await opener.open(stalling!.peer, { ...one, timeoutMs: SETTLE_TIMEOUT_MS });
        const reading = readAll(third, "The echo after the slot was freed");
        await third.write(encoder.encode("free"));
        await third.closeWrite();
        assert.equal(decoder.decode(await reading), "free");
      }),
  });
}

/** True when `write` is still pending after {@link WRITE_STALL_MS}; never abandons it. */
async function stalls(write: Promise<void>): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), WRITE_STALL_MS);
  });
  try {
    return await Promise.race([write.then(() => false), stalled]);
  } finally {
    clearTimeout(timer);
  }
}
