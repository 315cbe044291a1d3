/**
 * The bare-QUIC baseline: two of these processes move N bytes over one stream of Deno's native
 * QUIC, with nothing of p2proxy on it, like `raw_peer.ts` does for libp2p. It is the floor of
 * the QUIC network plugin (which adds its framing and the relay).
 *
 * `serve`: prints `{"port": …, "certPem": …}` (a fresh self-signed leaf certificate) and, for
 * every stream, reads the size as text up to the client's end, then writes that many bytes in
 * 256 KiB writes.
 *
 * `fetch <port> <certPem as JSON string>`: connects once (pinning the certificate), then for
 * each stdin line `raw <bytes>` downloads that many bytes on a new stream and prints
 * `{"mode", "bytes", "seconds", "cpuSeconds"}`. `quit` ends it.
 *
 * Needs `--unstable-net` (the project's deno.json grants it).
 *
 * @module
 */
import { makeSelfSignedCertificate } from "../../plugins/network-quic/certificate.ts";
import { patternBytes } from "./pattern.ts";
import { cpuSeconds } from "./procstat.ts";

const ALPN = "p2proxy-bench/1";
const SERVER_NAME = "bench.p2proxy.invalid";
const WRITE_BYTES = 256 * 1024;
const CHUNK = patternBytes(WRITE_BYTES);
const decoder = new TextDecoder();
const encoder = new TextEncoder();

async function serveStream(stream: Deno.QuicBidirectionalStream): Promise<void> {
  let text = "";
  for await (const chunk of stream.readable) text += decoder.decode(chunk, { stream: true });
  let left = Number(text.trim());
  const writer = stream.writable.getWriter();
  try {
    while (left > 0) {
      const slice = left >= WRITE_BYTES ? CHUNK : CHUNK.subarray(0, left);
      await writer.write(slice);
      left -= slice.byteLength;
    }
    await writer.close();
  } catch {
    await writer.abort().catch(() => {});
  }
}

async function serve(): Promise<void> {
  const certificate = await makeSelfSignedCertificate(SERVER_NAME);
  const endpoint = new Deno.QuicEndpoint({ hostname: "127.0.0.1", port: 0 });
  const listener = endpoint.listen({
    cert: certificate.certPem,
    key: certificate.keyPem,
    alpnProtocols: [ALPN],
    maxConcurrentBidirectionalStreams: 1024,
  });
  console.log(JSON.stringify({ port: endpoint.addr.port, certPem: certificate.certPem }));
  const stopped = new Promise<void>((resolve) => {
    Deno.addSignalListener("SIGTERM", () => resolve());
    Deno.addSignalListener("SIGINT", () => resolve());
  });
  (async () => {
    while (true) {
      const incoming = await listener.incoming();
      (async () => {
        const conn = await incoming.accept();
        for await (const stream of conn.incomingBidirectionalStreams) void serveStream(stream);
      })().catch(() => {});
    }
  })().catch(() => {});
  await stopped;
  endpoint.close();
}

async function fetchBytes(conn: Deno.QuicConn, bytes: number): Promise<number> {
  const stream = await conn.createBidirectionalStream();
  const writer = stream.writable.getWriter();
  await writer.write(encoder.encode(`${bytes}\n`));
  await writer.close();
  let received = 0;
  for await (const chunk of stream.readable) received += chunk.byteLength;
  return received;
}

async function fetch(port: number, certPem: string): Promise<void> {
  const conn = await Deno.connectQuic<false>({
    hostname: "127.0.0.1",
    port,
    serverName: SERVER_NAME,
    caCerts: [certPem],
    alpnProtocols: [ALPN],
    // The connection idles while the other paths are measured (minutes): keep it alive.
    keepAliveInterval: 5_000,
  });
  const ticks = Number(Deno.args[3] ?? 100);
  console.log(JSON.stringify({ ready: true }));
  let pending = "";
  for await (const text of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    pending += text;
    let newline: number;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (line === "quit") {
        conn.close();
        return;
      }
      const [mode, size] = line.split(" ");
      const cpuBefore = await cpuSeconds(Deno.pid, ticks);
      const started = performance.now();
      const received = await fetchBytes(conn, Number(size));
      const seconds = (performance.now() - started) / 1000;
      const cpu = (await cpuSeconds(Deno.pid, ticks)) - cpuBefore;
      console.log(JSON.stringify({ mode, bytes: received, seconds, cpuSeconds: cpu }));
    }
  }
  conn.close();
}

if (import.meta.main) {
  const [command, port, certJson] = Deno.args;
  if (command === "serve") await serve();
  else if (command === "fetch" && port && certJson) await fetch(Number(port), JSON.parse(certJson));
  else {
    console.error(
      "Usage: quic_peer.ts serve | quic_peer.ts fetch <port> <cert PEM as JSON> [ticks]",
    );
    Deno.exit(2);
  }
  Deno.exit(0);
}
