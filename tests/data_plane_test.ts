/**
 * The data plane end to end (docs/proxy-behaviour.md#relay) with real processes: a proxy and
 * an exit started from the CLI, real destination servers, curl and the
 * tests' own SOCKS client. Bulk transfers are checked by SHA-256, half-close
 * byte-exact, and 200 concurrent sessions through one exit byte-exact.
 *
 * @module
 */
import assert from "node:assert/strict";
import { freePort, type NodeProcess, startExit, startProxy } from "../scripts/cluster.ts";
import {
  ByteDigest,
  patternBytes,
  patternChunks,
  patternSha256,
  sha256Hex,
  startDrainThenSendServer,
  startEchoServer,
  startHttpDestination,
  startSourceServer,
  writeFully,
} from "./_servers.ts";
import { openSocks, waitUntil } from "./_socks_client.ts";

const MIB = 1024 * 1024;
/** Sizes the issue requires. */
const DOWNLOAD_BYTES = 64 * MIB;
const UPLOAD_BYTES = 16 * MIB;
const HALF_CLOSE_UP_BYTES = 8 * MIB;
const HALF_CLOSE_DOWN_BYTES = 1 * MIB;
const CONCURRENT_SESSIONS = 200;
/** The stalling reader's download: several times the proxy's yamux window (4 MiB). */
const STALL_READ_BYTES = 32 * MIB;
/** The stalling reader stops this long after every STALL_EVERY_BYTES: the exit fills the window meanwhile. */
const STALL_MS = 50;
const STALL_EVERY_BYTES = 2 * MIB;
/**
 * What may sit in buffers for a client that reads nothing: kernel socket buffers of three TCP
 * legs (Linux autotuning caps a socket at 4–6 MiB per direction), one yamux window (4 MiB) and the
 * stream adapters' queues. Without backpressure it grows by ~200 MB/s without end.
 */
const MAX_IN_FLIGHT_BYTES = 96 * MIB;
/** The source counts as stalled when it sent nothing for this long. */
const PLATEAU_CHECK_MS = 500;
/** Per session in the concurrency test: enough to span several relay reads and yamux frames. */
const CONCURRENT_SESSION_BYTES = 64 * 1024;
/** Bound on one curl run: 64 MiB on loopback takes about a second; a hang fails at this. */
const CURL_TIMEOUT_SECS = 60;
/** Bound on one step's socket waits. */
const STEP_WAIT_MS = 30_000;

const CURL = "curl";

interface CurlResult {
  readonly code: number;
  readonly stdoutBytes: number;
  readonly stdoutSha256: string;
  readonly stdoutText: string;
  readonly stderr: string;
}

/** Runs curl through the SOCKS port; stdout is hashed as it streams (it may be 64 MiB). */
async function curl(socksPort: number, args: readonly string[]): Promise<CurlResult> {
  const child = new Deno.Command(CURL, {
    args: [
      "--silent",
      "--show-error",
      "--fail",
      "--max-time",
      `${CURL_TIMEOUT_SECS}`,
      "--socks5-hostname",
      `127.0.0.1:${socksPort}`,
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const digest = new ByteDigest();
  let head = new Uint8Array(0);
  const stdout = (async () => {
    for await (const chunk of child.stdout) {
      digest.update(chunk);
      if (head.byteLength < 4096) {
        const merged = new Uint8Array(head.byteLength + chunk.byteLength);
        merged.set(head);
        merged.set(chunk, head.byteLength);
        head = merged.subarray(0, 4096);
      }
    }
  })();
  const stderr = new Response(child.stderr).text();
  const [status, , errorText] = await Promise.all([child.status, stdout, stderr]);
  return {
    code: status.code,
    stdoutBytes: digest.bytes,
    stdoutSha256: digest.hex(),
    stdoutText: new TextDecoder().decode(head),
    stderr: errorText,
  };
}

function describeCurl(result: CurlResult, node: NodeProcess[]): string {
  return `curl exited ${result.code}: ${result.stderr}\n` +
    node.map((n) => `--- ${n.dir}\n${n.logs()}`).join("\n");
}

Deno.test("data plane: curl, half-close and concurrency through proxy → exit", async (t) => {
  const http = startHttpDestination();
  const echo = startEchoServer();
  const drain = startDrainThenSendServer(HALF_CLOSE_DOWN_BYTES, 22);
  const source = startSourceServer(5);
  const uploadDir = await Deno.makeTempDir({ prefix: "p2proxy-upload-" });
  const nodes: NodeProcess[] = [];
  try {
    // `localhost` must be resolvable to ::1 as well on some machines: the policy checks every address.
    const exit = await startExit({ egress: { allow_cidrs: ["127.0.0.0/8", "::1/128"] } });
    nodes.push(exit);
    const socksPort = freePort();
    const proxy = await startProxy({
      servers: [{ port: socksPort, destination_peers: [exit.address] }],
    });
    nodes.push(proxy);

    await t.step("curl downloads 64 MiB, SHA-256 exact (name resolved at the exit)", async () => {
      const result = await curl(socksPort, [
        "--output",
        "-",
        `http://localhost:${http.port}/bytes/${DOWNLOAD_BYTES}?seed=7`,
      ]);
      assert.equal(result.code, 0, describeCurl(result, nodes));
      assert.equal(result.stdoutBytes, DOWNLOAD_BYTES);
      assert.equal(result.stdoutSha256, patternSha256(DOWNLOAD_BYTES, 7));
    });

    await t.step(
      "a stalling reader gets 32 MiB exact: backpressure pauses, never resets",
      async () => {
        // The client stalls every 2 MiB, long enough for the proxy's stream toward the exit to
        // pause with a full window buffered; each resume then hands over that whole buffer at
        // once. (A resume that reopened the yamux window while the stream stayed paused let the
        // exit flood it until libp2p reset it past its read-buffer limit: a truncated download.)
        const session = await openSocks({
          proxyPort: socksPort,
          host: "127.0.0.1",
          port: source.port,
        });
        try {
          const header = await session.reader.line(STEP_WAIT_MS, "the source's header");
          assert.match(header, /^127\.0\.0\.1 \d+$/);
          const digest = new ByteDigest();
          const deadline = Date.now() + STEP_WAIT_MS;
          let sinceStall = 0;
          while (digest.bytes < STALL_READ_BYTES) {
            const left = Math.min(256 * 1024, STALL_READ_BYTES - digest.bytes);
            const chunk = await session.reader.readChunk(
              left,
              deadline - Date.now(),
              "stalled read",
            );
            assert.ok(chunk, `EOF after ${digest.bytes} of ${STALL_READ_BYTES} bytes`);
            digest.update(chunk);
            sinceStall += chunk.byteLength;
            if (sinceStall >= STALL_EVERY_BYTES) {
              sinceStall = 0;
              await new Promise((resolve) => setTimeout(resolve, STALL_MS));
            }
          }
          assert.equal(digest.hex(), patternSha256(STALL_READ_BYTES, 5));
        } finally {
          session.reader.close();
        }
      },
    );

    await t.step(
      "a client that stops reading stops the destination: memory stays bounded",
      async () => {
        // Every buffer on the way (three TCP legs, the yamux window, the stream adapters) is bounded,
        // so the source must stall within tens of MiB. (libp2p's onDrain() resolved at once after
        // its first use: the exit kept reading from the destination into memory at full speed.)
        const session = await openSocks({
          proxyPort: socksPort,
          host: "127.0.0.1",
          port: source.port,
        });
        try {
          await session.reader.line(STEP_WAIT_MS, "the source's header");
          const before = source.bytesSent;
          let previous = -1;
          await waitUntil(
            async () => {
              await new Promise((resolve) => setTimeout(resolve, PLATEAU_CHECK_MS));
              const now = source.bytesSent - before;
              assert.ok(
                now <= MAX_IN_FLIGHT_BYTES,
                `${(now / MIB).toFixed(1)} MiB left the source for a client that read nothing`,
              );
              const stalled = now === previous;
              previous = now;
              return stalled;
            },
            STEP_WAIT_MS,
            "the source to stall while the client reads nothing",
          );
          // And the session is still healthy once the client reads again.
          const resumed = await session.reader.exactly(
            4 * MIB,
            STEP_WAIT_MS,
            "data after the stall",
          );
          assert.equal(resumed.byteLength, 4 * MIB);
        } finally {
          session.reader.close();
        }
      },
    );

    await t.step("curl uploads 16 MiB (POST --data-binary and PUT -T), SHA-256 exact", async () => {
      const file = `${uploadDir}/upload.bin`;
      await Deno.writeFile(file, patternBytes(UPLOAD_BYTES, 11));
      const expected = patternSha256(UPLOAD_BYTES, 11);
      for (
        const mode of [
          ["--data-binary", `@${file}`, "-H", "content-type: application/octet-stream"],
          ["-T", file],
        ]
      ) {
        const result = await curl(socksPort, [...mode, `http://127.0.0.1:${http.port}/upload`]);
        assert.equal(result.code, 0, describeCurl(result, nodes));
        const answer = JSON.parse(result.stdoutText) as { bytes: number; sha256: string };
        assert.deepEqual(answer, { bytes: UPLOAD_BYTES, sha256: expected }, mode.join(" "));
      }
    });

    await t.step("half-close: 8 MiB up, client EOF, then 1 MiB down arrives whole", async () => {
      const session = await openSocks({
        proxyPort: socksPort,
        host: "127.0.0.1",
        port: drain.port,
      });
      try {
        const down = new ByteDigest();
        const reading = session.reader.toEnd(STEP_WAIT_MS, "the 1 MiB answer", (chunk) => {
          down.update(chunk);
        });
        for (const chunk of patternChunks(HALF_CLOSE_UP_BYTES, 21)) {
          await writeFully(session.conn, chunk);
        }
        await session.conn.closeWrite();
        assert.equal(await reading, "eof", "the exit's EOF must reach the client as a clean EOF");
        assert.equal(down.bytes, HALF_CLOSE_DOWN_BYTES);
        assert.equal(down.hex(), patternSha256(HALF_CLOSE_DOWN_BYTES, 22));
        assert.deepEqual(drain.received, [{
          bytes: HALF_CLOSE_UP_BYTES,
          sha256: patternSha256(HALF_CLOSE_UP_BYTES, 21),
        }]);
      } finally {
        session.reader.close();
      }
    });

    await t.step(
      `${CONCURRENT_SESSIONS} concurrent sessions through one exit, byte-exact`,
      async () => {
        const before = echo.accepted;
        const one = async (index: number) => {
          const payload = patternBytes(CONCURRENT_SESSION_BYTES, 1000 + index);
          const session = await openSocks({
            proxyPort: socksPort,
            host: "127.0.0.1",
            port: echo.port,
            timeoutMs: STEP_WAIT_MS,
          });
          try {
            const back = new ByteDigest();
            const reading = session.reader.toEnd(STEP_WAIT_MS, `echo of session ${index}`, (c) => {
              back.update(c);
            });
            await writeFully(session.conn, payload);
            await session.conn.closeWrite();
            assert.equal(await reading, "eof");
            assert.equal(back.bytes, payload.byteLength, `session ${index}`);
            assert.equal(back.hex(), sha256Hex(payload), `session ${index}`);
          } finally {
            session.reader.close();
          }
        };
        const results = await Promise.allSettled(
          Array.from({ length: CONCURRENT_SESSIONS }, (_, i) => one(i)),
        );
        const failed = results.flatMap((r, i) =>
          r.status === "rejected" ? [`#${i}: ${(r.reason as Error).message}`] : []
        );
        assert.deepEqual(failed, [], `${failed.length} sessions failed`);
        assert.equal(echo.accepted - before, CONCURRENT_SESSIONS);
        // Every destination connection ends with its session.
        await waitUntil(
          () => echo.active === 0,
          5_000,
          "the exit to close every destination connection",
        );
      },
    );
  } finally {
    for (const node of nodes.reverse()) await node.stop(5_000);
    await Promise.all([http.close(), echo.close(), drain.close(), source.close()]);
    await Deno.remove(uploadDir, { recursive: true });
  }
});
