import assert from "node:assert/strict";
import type { NetworkNode } from "../../ports/network.ts";
import { type DuplexStream, StreamError, type StreamOpener } from "../../ports/stream_opener.ts";
import { streamOpenerCompliance, type StreamOpenerFixture } from "./stream_opener.ts";
import {
  MemoryNetwork,
  patchedNode,
  patchedStream,
  PIPE_HIGH_WATER_BYTES,
} from "./_fake_stream_network.ts";
import { recordingContext } from "./_recording_context.ts";

/** How a broken variant changes the honest memory network. */
interface Breakage {
  /** Replaces the opener. */
  readonly opener?: (node: NetworkNode) => StreamOpener;
  /** Wraps every stream the serving side gets. */
  readonly served?: (stream: DuplexStream) => DuplexStream;
  /** Wraps every stream the opener returns. */
  readonly opened?: (stream: DuplexStream) => DuplexStream;
}

/** Three memory nodes: the opener, a peer serving the suite's protocols, and a stalling peer. */
function memoryFixture(breakage: Breakage = {}): StreamOpenerFixture {
  const network = new MemoryNetwork();
  const node = network.node();
  const remote = network.node();
  const stalled = network.node();
  stalled.stall();
  const base = breakage.opener?.(node) ?? node;
  const opened = breakage.opened;
  return {
    opener: opened
      ? { open: async (peer, options) => opened(await base.open(peer, options)) }
      : base,
    peer: remote.peerId,
    serve: async (protocol, handler) => {
      const wrap = breakage.served ?? ((stream) => stream);
      await remote.handle(protocol, (stream) => handler(wrap(stream)));
      await stalled.handle(protocol, (stream) => handler(wrap(stream)));
    },
    stalling: { peer: stalled.peerId, unstall: () => stalled.unstall() },
    maxUnreadBytes: 4 * PIPE_HIGH_WATER_BYTES,
    cleanup: () => network.stopAll(),
  };
}

/** An opener that rewrites the open's errors or options. */
function openerWith(
  change: (node: NetworkNode, ...args: Parameters<StreamOpener["open"]>) => Promise<DuplexStream>,
): Breakage {
  return {
    opener: (node) => patchedNode(node, { open: (peer, options) => change(node, peer, options) }),
  };
}

async function failedSteps(breakage: Breakage): Promise<string[]> {
  const recording = recordingContext();
  await streamOpenerCompliance(recording.t, () => memoryFixture(breakage));
  return recording.failed();
}

Deno.test("the memory network passes the stream opener compliance suite", async (t) => {
  await streamOpenerCompliance(t, () => memoryFixture());
  const recording = recordingContext();
  await streamOpenerCompliance(recording.t, () => memoryFixture());
  assert.deepEqual(recording.ignored(), []);
});

Deno.test("without stalling its three steps are skipped, not failed", async () => {
  const recording = recordingContext();
  await streamOpenerCompliance(recording.t, () => {
    const { stalling: _, ...rest } = memoryFixture();
    return rest;
  });
  assert.deepEqual(recording.failed(), []);
  assert.deepEqual(recording.ignored(), [
    "an open that cannot complete rejects with StreamError open-timeout",
    "an abort while the open waits rejects it at once",
    "at most maxConcurrent opens per peer are in flight; an aborted one frees its slot",
  ]);
});

Deno.test("the stream suite fails one that buffers without bound", async () => {
  const eager = (stream: DuplexStream) =>
    patchedStream(stream, {
      write: (chunk) => {
        stream.write(chunk).catch(() => {});
        return Promise.resolve();
      },
    });
  assert.deepEqual(await failedSteps({ served: eager }), [
    "a stream nobody reads makes the peer's writes wait, and loses nothing once read",
  ]);
});

Deno.test("the stream suite fails one that reports a reset as the end of the stream", async () => {
  const resetAsEnd = (stream: DuplexStream) =>
    patchedStream(stream, { read: () => stream.read().catch(() => null) });
  assert.deepEqual(await failedSteps({ served: resetAsEnd, opened: resetAsEnd }), [
    "abort resets both directions, on both sides, and may be repeated",
  ]);
});

Deno.test("the stream suite fails one whose closeWrite is no half-close", async () => {
  const closesBoth = (stream: DuplexStream) =>
    patchedStream(stream, {
      closeWrite: () => {
        stream.abort(new Error("closed both ways"));
        return Promise.resolve();
      },
    });
  const failed = await failedSteps({ opened: closesBoth });
  assert.ok(
    failed.includes("closeWrite is a half-close: the peer reads to the end, then still answers"),
    failed.join(),
  );
  assert.ok(
    failed.includes("opens a stream of a served protocol; bytes flow both ways, in order"),
    failed.join(),
  );
});

Deno.test("the stream suite fails one that ignores maxConcurrent", async () => {
  const unlimited = openerWith((node, peer, options) =>
    node.open(peer, { ...options, maxConcurrent: 1_000 })
  );
  assert.deepEqual(await failedSteps(unlimited), [
    "at most maxConcurrent opens per peer are in flight; an aborted one frees its slot",
  ]);
});

Deno.test("the stream suite fails one whose errors carry the wrong code", async () => {
  const recoded = (from: string, to: "io") =>
    openerWith((node, peer, options) =>
      node.open(peer, options).catch((error) =>
        Promise.reject(
          error instanceof StreamError && error.code === from
            ? new StreamError(to, error.message)
            : error,
        )
      )
    );
  assert.deepEqual(await failedSteps(recoded("unsupported-protocol", "io")), [
    "a protocol the peer does not serve rejects with StreamError unsupported-protocol",
  ]);
  assert.deepEqual(await failedSteps(recoded("open-timeout", "io")), [
    "an open that cannot complete rejects with StreamError open-timeout",
    "at most maxConcurrent opens per peer are in flight; an aborted one frees its slot",
  ]);
});

Deno.test("the stream suite fails one that opens despite an aborted signal", async () => {
  const deaf = openerWith((node, peer, options) => {
    const { signal, ...rest } = options;
    return node.open(peer, signal?.aborted ? rest : options);
  });
  assert.deepEqual(await failedSteps(deaf), ["an aborted signal rejects the open"]);
});
