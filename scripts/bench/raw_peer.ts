/**
 * The raw-libp2p baseline: two of these processes, built with the network
 * plugin's own `Libp2pNetwork` (so TCP, noise, yamux windows, stream limits
 * are exactly the proxy's and the exit's), move N bytes over one stream.
 *
 * `serve`: prints `{"address": …}` and answers two protocols until killed:
 * - RAW_PROTOCOL on libp2p's own stream API (`send` + `onDrain`), the floor
 *   any data plane on this stack can reach;
 * - ADAPTER_PROTOCOL through the plugin's `Libp2pDuplexStream` (what the
 *   relay uses), to show what the adapter itself costs.
 * The client sends the size as text and half-closes; the server answers
 * with that many bytes in 256 KiB writes that honour backpressure.
 * - ECHO_PROTOCOL on libp2p's own stream API: sends back what it reads (the
 *   latency baseline: what opening a bare stream and one round trip cost).
 *
 * `fetch <address>`: dials once, then for each stdin line `raw <bytes>` or
 * `adapter <bytes>` downloads that many bytes on a new stream and prints
 * `{"mode", "bytes", "seconds", "cpuSeconds"}` (its own CPU during the
 * transfer); `echo <count>` opens `count` streams one after the other, each
 * with libp2p's own `newStream` (protocol negotiation included), sends one
 * byte and waits for it, and prints `{"mode", "samplesMs"}`. `quit` ends it.
 *
 * @module
 */
import { FileIdentity } from "../../plugins/identity-file/file_identity.ts";
import { Libp2pNetwork } from "../../plugins/network-libp2p/libp2p_network.ts";
import type { PeerId } from "../../core/ids.ts";
import { asMultiaddr, peerIdOfAddress } from "../../core/ids.ts";
import type { DuplexStream } from "../../core/ports/stream_opener.ts";
import { multiaddr } from "@multiformats/multiaddr";
import { patternBytes } from "./pattern.ts";
import { cpuSeconds } from "./procstat.ts";

/** libp2p's own stream API, no adapter. */
export const RAW_PROTOCOL = "/p2proxy-bench/raw/1.0.0";

/** Through the network plugin's DuplexStream adapter. */
export const ADAPTER_PROTOCOL = "/p2proxy-bench/adapter/1.0.0";

/** A new stream, one byte there and back: the floor of a CONNECT's latency. */
export const ECHO_PROTOCOL = "/p2proxy-bench/echo/1.0.0";

/** The server's write size (the relay reads 256 KiB from TCP too). */
const WRITE_BYTES = 256 * 1024;

/** Streams the benchmark may open at once per connection. */
const MAX_BENCH_STREAMS = 64;

/** Deadline for opening a stream. */
const OPEN_TIMEOUT_MS = 10_000;

const CHUNK = patternBytes(WRITE_BYTES);
const encoder = new TextEncoder();
const ECHO_BYTE = Uint8Array.of(0x2a);
const decoder = new TextDecoder();

type RawStream = {
  send(data: Uint8Array): boolean;
  readonly writeBufferLength: number;
  readonly writeStatus: string;
  addEventListener(type: "drain" | "close", listener: () => void): void;
  removeEventListener(type: "drain" | "close", listener: () => void): void;
  close(): Promise<void>;
  abort(error: Error): void;
} & AsyncIterable<Uint8Array | { subarray(): Uint8Array }>;

function bytesOf(chunk: Uint8Array | { subarray(): Uint8Array }): Uint8Array {
  return chunk instanceof Uint8Array ? chunk : chunk.subarray();
}

async function newNetwork(): Promise<Libp2pNetwork> {
  const network = await Libp2pNetwork.create(await FileIdentity.generate(), {
    listen: ["/ip4/127.0.0.1/tcp/0"],
    announce: [],
  });
  await network.start();
  return network;
}

async function readRequestedSize(chunks: AsyncIterable<Uint8Array>): Promise<number> {
  let text = "";
  for await (const chunk of chunks) text += decoder.decode(chunk, { stream: true });
  const bytes = Number(text.trim());
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new Error(`Bad size request "${text}".`);
  return bytes;
}

async function* rawChunks(stream: RawStream): AsyncIterable<Uint8Array> {
  for await (const chunk of stream) yield bytesOf(chunk);
}

async function* duplexChunks(stream: DuplexStream): AsyncIterable<Uint8Array> {
  while (true) {
    const chunk = await stream.read();
    if (chunk === null) return;
    yield chunk;
  }
}

/** Resolves on the stream's next `drain` or `close` event. */
function nextDrain(stream: RawStream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.removeEventListener("drain", done);
      stream.removeEventListener("close", done);
      resolve();
    };
    stream.addEventListener("drain", done);
    stream.addEventListener("close", done);
  });
}

/**
 * Sends honouring backpressure. Not `if (!send()) await onDrain()`: @libp2p/utils 7.4 never
 * clears the promise `onDrain()` returns, so after the first drain it resolves at once and the
 * whole download would sit in the stream's write buffer. Waits for fresh `drain` events until
 * no more than one write is queued.
 */
async function sendWithBackpressure(stream: RawStream, chunk: Uint8Array): Promise<void> {
  if (stream.send(chunk)) return;
  while (stream.writeBufferLength > WRITE_BYTES && stream.writeStatus === "writable") {
    await nextDrain(stream);
  }
}

async function serveRaw(stream: RawStream): Promise<void> {
  try {
    let left = await readRequestedSize(rawChunks(stream));
    while (left > 0) {
      const slice = left >= WRITE_BYTES ? CHUNK : CHUNK.subarray(0, left);
      await sendWithBackpressure(stream, slice);
      left -= slice.byteLength;
    }
    await stream.close();
  } catch (error) {
    stream.abort(error instanceof Error ? error : new Error(String(error)));
  }
}

async function serveAdapter(stream: DuplexStream): Promise<void> {
  try {
    let left = await readRequestedSize(duplexChunks(stream));
    while (left > 0) {
      const slice = left >= WRITE_BYTES ? CHUNK : CHUNK.subarray(0, left);
      await stream.write(slice);
      left -= slice.byteLength;
    }
    await stream.closeWrite();
  } catch (error) {
    stream.abort(error instanceof Error ? error : new Error(String(error)));
  }
}

/** Sends back every chunk, then half-closes when the client did. */
async function serveEcho(stream: RawStream): Promise<void> {
  try {
    for await (const chunk of rawChunks(stream)) await sendWithBackpressure(stream, chunk);
    await stream.close();
  } catch (error) {
    stream.abort(error instanceof Error ? error : new Error(String(error)));
  }
}

async function serve(): Promise<void> {
  const network = await newNetwork();
  await network.node.handle(RAW_PROTOCOL, (stream) => {
    serveRaw(stream as unknown as RawStream);
  }, {
    maxInboundStreams: MAX_BENCH_STREAMS,
    maxOutboundStreams: MAX_BENCH_STREAMS,
    runOnLimitedConnection: true,
  });
  await network.node.handle(ECHO_PROTOCOL, (stream) => {
    serveEcho(stream as unknown as RawStream);
  }, {
    maxInboundStreams: MAX_BENCH_STREAMS,
    maxOutboundStreams: MAX_BENCH_STREAMS,
    runOnLimitedConnection: true,
  });
  await network.handle(ADAPTER_PROTOCOL, (stream) => {
    serveAdapter(stream);
  }, { maxInboundStreams: MAX_BENCH_STREAMS });
  console.log(JSON.stringify({ address: network.addresses()[0] }));
  await new Promise<void>((resolve) => {
    Deno.addSignalListener("SIGTERM", () => resolve());
    Deno.addSignalListener("SIGINT", () => resolve());
  });
  await network.stop();
}

async function fetchRaw(network: Libp2pNetwork, server: PeerId, bytes: number): Promise<number> {
  const [connection] = network.node.getConnections();
  if (!connection) throw new Error(`Not connected to ${server}.`);
  const stream = await connection.newStream(RAW_PROTOCOL, {
    signal: AbortSignal.timeout(OPEN_TIMEOUT_MS),
    maxOutboundStreams: MAX_BENCH_STREAMS,
  });
  // Counting in the `message` listener is the cheapest way to consume a libp2p stream: no
  // queue, no async iterator (libp2p's own iterator goes through a pushable per chunk).
  let received = 0;
  const done = new Promise<void>((resolve, reject) => {
    stream.addEventListener("message", (event) => {
      received += event.data.byteLength;
    });
    stream.addEventListener("remoteCloseWrite", () => resolve());
    stream.addEventListener("close", (event) => {
      const error = (event as { error?: Error }).error;
      if (error) reject(error);
      else resolve();
    });
  });
  stream.send(encoder.encode(`${bytes}\n`));
  await stream.close();
  await done;
  return received;
}

/** Milliseconds of one new stream (negotiated as libp2p does) plus a 1-byte round trip. */
async function openAndEcho(network: Libp2pNetwork, server: PeerId): Promise<number> {
  const [connection] = network.node.getConnections();
  if (!connection) throw new Error(`Not connected to ${server}.`);
  const started = performance.now();
  const stream = await connection.newStream(ECHO_PROTOCOL, {
    signal: AbortSignal.timeout(OPEN_TIMEOUT_MS),
    maxOutboundStreams: MAX_BENCH_STREAMS,
  });
  const echoed = new Promise<void>((resolve, reject) => {
    stream.addEventListener("message", () => resolve(), { once: true });
    stream.addEventListener("close", (event) => {
      reject((event as { error?: Error }).error ?? new Error("The echo stream closed early."));
    });
  });
  stream.send(ECHO_BYTE);
  await echoed;
  const tookMs = performance.now() - started;
  await stream.close();
  return tookMs;
}

async function fetchAdapter(
  network: Libp2pNetwork,
  server: PeerId,
  bytes: number,
): Promise<number> {
  const stream = await network.open(server, {
    protocol: ADAPTER_PROTOCOL,
    timeoutMs: OPEN_TIMEOUT_MS,
    maxConcurrent: MAX_BENCH_STREAMS,
  });
  await stream.write(encoder.encode(`${bytes}\n`));
  await stream.closeWrite();
  let received = 0;
  for await (const chunk of duplexChunks(stream)) received += chunk.byteLength;
  return received;
}

async function fetch(address: string): Promise<void> {
  const server = peerIdOfAddress(asMultiaddr(address));
  if (!server) throw new Error(`Address "${address}" does not end in /p2p/<peer id>.`);
  const network = await newNetwork();
  await network.node.dial(multiaddr(address));
  const ticks = Number(Deno.args[2] ?? 100);
  console.log(JSON.stringify({ ready: true }));
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let pending = "";
  for await (const text of lines) {
    pending += text;
    let newline: number;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (line === "quit") {
        await network.stop();
        return;
      }
      const [mode, size] = line.split(" ");
      if (mode === "echo") {
        const samplesMs: number[] = [];
        for (let i = 0; i < Number(size); i++) samplesMs.push(await openAndEcho(network, server));
        console.log(JSON.stringify({ mode, samplesMs }));
        continue;
      }
      const bytes = Number(size);
      const cpuBefore = await cpuSeconds(Deno.pid, ticks);
      const started = performance.now();
      const received = mode === "raw"
        ? await fetchRaw(network, server, bytes)
        : await fetchAdapter(network, server, bytes);
      const seconds = (performance.now() - started) / 1000;
      const cpu = (await cpuSeconds(Deno.pid, ticks)) - cpuBefore;
      console.log(JSON.stringify({ mode, bytes: received, seconds, cpuSeconds: cpu }));
    }
  }
  await network.stop();
}

if (import.meta.main) {
  const [command, address] = Deno.args;
  if (command === "serve") await serve();
  else if (command === "fetch" && address) await fetch(address);
  else {
    console.error("Usage: raw_peer.ts serve | raw_peer.ts fetch <multiaddr> [clock ticks]");
    Deno.exit(2);
  }
  Deno.exit(0);
}
