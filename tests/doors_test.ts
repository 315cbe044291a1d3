/**
 * The front doors end to end (docs/proxy-behaviour.md#protocols), with real curl through a real
 * hub, exits and proxy: one mixed port serves `-x http://`, `-p -x` (CONNECT), `--socks4a` and
 * `--socks5-hostname`, each with and without a routing username (`demo-country-DE-session-s1`);
 * sessions keep their exit and spread over exits; a kept-alive client connection forwards to two
 * hosts, each over its own exit connection, with chunked bodies both ways; every HTTP error
 * status; and a live fuzz of the mixed port leaves the proxy's descriptors at their baseline and
 * the port serving.
 *
 * @module
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { encodeSocks4Request } from "../core/codec/socks4.ts";
import {
  AUTH_METHOD,
  encodeGreeting,
  encodeRequest,
  encodeUserPass,
} from "../core/codec/socks5.ts";
import { startHttpDestination } from "./_servers.ts";
import { Cluster, freePort, pollUntil, sleep, startWhoami } from "./_network.ts";
import { connectLocal, ConnReader, waitUntil } from "./_socks_client.ts";

const NL1 = "127.0.0.2";
const NL2 = "127.0.0.3";
const DE = "127.0.0.4";
const FR = "127.0.0.5";
/** Bound on one curl run. */
const CURL_SECS = 10;
/** Bound on a raw client's wait for an answer. */
const WAIT_MS = 10_000;
/** Bound on the port getting its first exit. */
const FIRST_EXIT_MS = 20_000;
/** Descriptors the proxy may hold above its baseline once the fuzz ended (timers, epoll…). */
const FD_SLACK = 8;
const FD_SETTLE_MS = 10_000;

interface Curl {
  readonly code: number;
  readonly status: number;
  readonly body: string;
  readonly stderr: string;
}

/** Runs curl with `args` (no retries, bounded); the HTTP status and body. */
async function curl(args: readonly string[]): Promise<Curl> {
  const output = await new Deno.Command("curl", {
    args: [
      "--silent",
      "--show-error",
      "--max-time",
      `${CURL_SECS}`,
      "--write-out",
      "\n%{http_code}",
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  const cut = text.lastIndexOf("\n");
  return {
    code: output.code,
    status: Number(text.slice(cut + 1)),
    body: text.slice(0, cut),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

/** The source the whoami destination saw, through curl with `args`; fails on any error. */
async function sourceVia(args: readonly string[], url: string): Promise<string> {
  const result = await curl([...args, url]);
  assert.equal(result.code, 0, `curl ${args.join(" ")} failed: ${result.stderr}`);
  assert.equal(result.status, 200, `curl ${args.join(" ")}: ${result.body}`);
  return result.body.trim();
}

/** Open descriptors of a process (Linux). */
function openFds(pid: number): number {
  let count = 0;
  for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) count++;
  return count;
}

const encode = (text: string) => new TextEncoder().encode(text);

/** One raw HTTP exchange on `reader`: writes `request`, reads one response (Content-Length or chunked). */
async function exchange(
  reader: ConnReader,
  request: Uint8Array,
): Promise<{ head: string; body: string }> {
  await reader.conn.write(request);
  let head = "";
  while (!head.endsWith("\r\n\r\n")) {
    const chunk = await reader.readChunk(1, WAIT_MS, "a response head");
    if (chunk === null) throw new Error(`EOF after ${JSON.stringify(head)}`);
    head += String.fromCharCode(chunk[0]!);
  }
  const length = /\r\ncontent-length: (\d+)/i.exec(head);
  if (length) {
    const body = await reader.exactly(Number(length[1]), WAIT_MS, "a response body");
    return { head, body: new TextDecoder().decode(body) };
  }
  if (/\r\ntransfer-encoding: chunked/i.test(head)) {
    let body = "";
    while (true) {
      const size = parseInt(await reader.line(WAIT_MS, "a chunk size"), 16);
      const data = await reader.exactly(size + 2, WAIT_MS, "a chunk");
      if (size === 0) return { head, body };
      body += new TextDecoder().decode(data.subarray(0, size));
    }
  }
  return { head, body: "" };
}

Deno.test("front doors: one mixed port for HTTP, CONNECT, SOCKS4a and SOCKS5, routed by username", async (t) => {
  const cluster = new Cluster();
  const whoami = startWhoami();
  const upload = startHttpDestination();
  try {
    const hub = await cluster.hub();
    const [, , , fr] = await Promise.all([
      cluster.exit(NL1, hub, { attributes: { country: "NL" } }),
      cluster.exit(NL2, hub, { attributes: { country: "NL" } }),
      cluster.exit(DE, hub, { attributes: { country: "DE" } }),
      cluster.exit(FR, hub, { attributes: { country: "FR" } }),
    ]);
    const port = freePort();
    const httpPort = freePort();
    const frPort = freePort();
    const demo = { username: "demo", password: "demo" };
    const proxy = await cluster.proxy(hub, {
      log_level: "info",
      servers: [
        {
          port,
          country: "NL",
          users: [demo],
          allow_anonymous: true,
          handshake_timeout_secs: 2,
        },
        { port: httpPort, protocol: "http", country: "NL", users: [demo] },
        { port: frPort, country: "FR", pool: { open_timeout_secs: 1 } },
      ],
    });
    const http = ["--proxy", `http://127.0.0.1:${port}`];
    const tunnel = ["--proxytunnel", ...http];
    const socks4a = ["--socks4a", `127.0.0.1:${port}`];
    const socks5 = ["--socks5-hostname", `127.0.0.1:${port}`];
    const nl = [NL1, NL2];
    await pollUntil(() => sourceVia(socks5, whoami.url), FIRST_EXIT_MS, "the port's first exit")
      .catch((error) => {
        throw new Error(`${error}\n${cluster.logs()}`);
      });

    await t.step("every mode without a username leaves from the port's NL exit", async () => {
      for (const args of [http, tunnel, socks4a, socks5]) {
        const source = await sourceVia(args, whoami.url);
        assert.ok(nl.includes(source), `${args.join(" ")} left from ${source}`);
      }
    });

    await t.step(
      "every mode with -U demo-country-DE-session-… leaves from the DE exit",
      async () => {
        const user = ["--proxy-user", "demo-country-DE-session-s1:demo"];
        for (const args of [http, tunnel, socks5]) {
          assert.equal(await sourceVia([...args, ...user], whoami.url), DE, args.join(" "));
        }
        // SOCKS4 has no password: its user id routes an anonymous client.
        const socks4User = ["--proxy", `socks4a://demo-country-de-session-s1@127.0.0.1:${port}`];
        assert.equal(await sourceVia(socks4User, whoami.url), DE, "socks4a user id");
      },
    );

    await t.step(
      "a session id keeps its exit; different ids spread over the NL exits",
      async () => {
        const sources = new Set<string>();
        for (let i = 0; i < 8; i++) {
          const user = ["--proxy-user", `demo-country-nl-session-spread${i}:demo`];
          const first = await sourceVia([...http, ...user], whoami.url);
          assert.equal(await sourceVia([...socks5, ...user], whoami.url), first, `session ${i}`);
          assert.equal(await sourceVia([...tunnel, ...user], whoami.url), first, `session ${i}`);
          sources.add(first);
        }
        assert.deepEqual([...sources].sort(), [...nl].sort(), "both NL exits carry sessions");
      },
    );

    await t.step(
      "keep-alive: two hosts on one client connection, chunked bodies both ways",
      async () => {
        const reader = new ConnReader(await connectLocal(port));
        try {
          const first = await exchange(
            reader,
            encode(`GET ${whoami.url} HTTP/1.1\r\nHost: x\r\nProxy-Connection: keep-alive\r\n\r\n`),
          );
          assert.match(first.head, /^HTTP\/1\.1 200 /);
          assert.ok(nl.includes(first.body.trim()));
          const body = "hello chunked world";
          const chunked = `${(7).toString(16)}\r\n${body.slice(0, 7)}\r\n` +
            `${(body.length - 7).toString(16)}\r\n${body.slice(7)}\r\n0\r\n\r\n`;
          const second = await exchange(
            reader,
            encode(
              `POST http://127.0.0.1:${upload.port}/upload HTTP/1.1\r\nHost: y\r\n` +
                `Transfer-Encoding: chunked\r\n\r\n${chunked}`,
            ),
          );
          assert.match(second.head, /^HTTP\/1\.1 200 /);
          assert.match(second.body, new RegExp(`"bytes":\\s*${body.length}`));
          const third = await exchange(reader, encode(`GET ${whoami.url} HTTP/1.1\r\n\r\n`));
          assert.ok(
            nl.includes(third.body.trim()),
            "the first host's exit connection still serves",
          );
          assert.equal(upload.accepted, 1, "one exit connection per host");
        } finally {
          reader.close();
        }
      },
    );

    await t.step(
      "an upload through -x http:// streams its body (Expect: 100-continue)",
      async () => {
        const file = await Deno.makeTempFile();
        try {
          const body = new Uint8Array(300_000).map((_, i) => i % 251);
          await Deno.writeFile(file, body);
          const result = await curl([
            ...http,
            "--data-binary",
            `@${file}`,
            `http://127.0.0.1:${upload.port}/upload`,
          ]);
          assert.equal(result.status, 200, result.stderr);
          assert.match(result.body, /"bytes":\s*300000/);
        } finally {
          await Deno.remove(file);
        }
      },
    );

    await t.step("each error status, with its one-line cause", async () => {
      const wrong = await curl([...http, "--proxy-user", "demo:nope", whoami.url]);
      assert.equal(wrong.status, 407);
      assert.match(wrong.body, /Wrong username or password/);
      const verbose = await curl([
        "-v",
        ...http,
        "--proxy-user",
        "demo-planet-mars:demo",
        whoami.url,
      ]);
      assert.equal(verbose.status, 407);
      assert.match(verbose.body, /"planet" is unknown/);
      assert.match(verbose.stderr, /Proxy-Authenticate: Basic realm="p2proxy"/);
      assert.match(proxy.logs(), /"planet" is unknown/, "the log names the bad key");
      const missing = await curl(["--proxy", `http://127.0.0.1:${httpPort}`, whoami.url]);
      assert.equal(missing.status, 407);
      const denied = await curl([...tunnel, "http://10.20.30.40:80/"]);
      assert.match(denied.stderr, /403/);
      const deniedForward = await curl([...http, "http://10.20.30.40:80/"]);
      assert.equal(deniedForward.status, 403);
      const closed = await curl([...http, `http://127.0.0.1:${freePort()}/`]);
      assert.equal(closed.status, 502);
      const noExit = await curl([...http, "--proxy-user", "demo-country-ZA:demo", whoami.url]);
      assert.equal(noExit.status, 503);
      assert.match(noExit.body, /No exit matching country=ZA/);
      const bad = new ConnReader(await connectLocal(port));
      try {
        const answer = await exchange(bad, encode("GET /not-absolute HTTP/1.1\r\n\r\n"));
        assert.match(answer.head, /^HTTP\/1\.1 400 /);
        assert.match(answer.body, /absolute http:\/\//);
      } finally {
        bad.close();
      }
      const big = new ConnReader(await connectLocal(port));
      try {
        const answer = await exchange(
          big,
          encode(`GET ${whoami.url} HTTP/1.1\r\nX-Big: ${"a".repeat(17 * 1024)}\r\n\r\n`),
        );
        assert.match(answer.head, /^HTTP\/1\.1 431 /);
      } finally {
        big.close();
      }
      // 504: the FR exit stops answering (SIGSTOP); the port's 1 s open timeout runs out.
      await pollUntil(
        () => sourceVia(["--proxy", `http://127.0.0.1:${frPort}`], whoami.url),
        FIRST_EXIT_MS,
        "the FR port's exit",
      );
      Deno.kill(fr.child.pid, "SIGSTOP");
      try {
        const timedOut = await curl(["--proxy", `http://127.0.0.1:${frPort}`, whoami.url]);
        assert.equal(timedOut.status, 504, timedOut.body);
      } finally {
        Deno.kill(fr.child.pid, "SIGCONT");
      }
    });

    await t.step("a live fuzz of the mixed port leaves descriptors at baseline", async () => {
      const pid = proxy.child.pid;
      const baseline = openFds(pid);
      const send = async (bytes: Uint8Array) => {
        const reader = new ConnReader(await connectLocal(port));
        try {
          await reader.conn.write(bytes).catch(() => {});
          await reader.conn.closeWrite().catch(() => {});
          await reader.toEnd(WAIT_MS, "the door's answer").catch(() => {});
        } finally {
          reader.close();
        }
      };
      const username = fc.oneof(
        fc.string({ maxLength: 80 }),
        fc.constantFrom("demo-country", "demo-country-XX", "demo-ttl-5", "-", "demo--"),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.uint8Array({ maxLength: 300 }),
            fc.string({ maxLength: 200 }).map((s) => encode(`GET http://${s} HTTP/1.1\r\n`)),
            fc.integer({ min: 16_000, max: 20_000 }).map((n) =>
              encode(`GET http://a/ HTTP/1.1\r\nX: ${"b".repeat(n)}\r\n\r\n`)
            ),
            fc.integer({ min: 1, max: 60 }).map((n) =>
              encode(`CONNECT ${whoami.url.slice(7, -1)} HTTP/1.1\r\n\r\n`).subarray(0, n)
            ),
            username.map((u) =>
              encode(
                `GET ${whoami.url} HTTP/1.1\r\nProxy-Authorization: Basic ${
                  btoa(unescape(encodeURIComponent(`${u}:demo`)))
                }\r\n\r\n`,
              )
            ),
            username.filter((u) => u.length > 0).map((u) => {
              return new Uint8Array([
                ...encodeGreeting([AUTH_METHOD.userPass]),
                ...encodeUserPass(u.slice(0, 80), "demo"),
                ...encodeRequest({ command: "connect", host: "127.0.0.1", port: whoami.port }),
              ]);
            }),
            username.map((u) =>
              encodeSocks4Request("127.0.0.1", whoami.port, u.replaceAll("\0", ""))
            ),
          ),
          send,
        ),
        { numRuns: 300 },
      );
      const source = await sourceVia(http, whoami.url);
      assert.ok(nl.includes(source), "the port still serves");
      await waitUntil(
        () => openFds(pid) <= baseline + FD_SLACK,
        FD_SETTLE_MS,
        `the proxy's descriptors back near ${baseline}`,
      ).catch(async (error) => {
        await sleep(0);
        throw new Error(`${error} (now ${openFds(pid)})`);
      });
    });
  } finally {
    await cluster.close();
    await whoami.close();
    await upload.close();
  }
});
