/**
 * The client library as a consumer uses it (issue "Serverless-friendly", docs/client.md): a folder
 * outside the repository, with its own deno.json linking the package, imports
 * `jsr:@p2proxy/p2proxy/client` (offline, through the link) and runs a script against a running
 * demo — started here as its own process, writing the options with `--client-config` — under
 * exactly `--allow-net --allow-env --allow-read=<the files it is given>`. The script gets bytes
 * through `connect()`, `Response`s through `fetch()` with the exit chosen by country (plain and
 * TLS from the client), a coded refusal, and then ends by itself after `client.close()`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { freePort } from "../scripts/cluster.ts";
import { CLI_MAIN, REPO_ROOT } from "./_cli.ts";

/** The demo's start (four roles, registration) on a busy CI box. */
const DEMO_READY_MS = 60_000;
/** The consumer script: a first run links the package's npm dependencies from the cache. */
const SCRIPT_MS = 90_000;
const TEST_CERT = join(REPO_ROOT, "auth-service", "testdata", "localhost.crt");
const TEST_KEY = join(REPO_ROOT, "auth-service", "testdata", "localhost.key");

/** What the consumer's script does, printing one JSON line of what it saw, then closing. */
const CONSUMER_SCRIPT = `
import { ClientError, createClient } from "jsr:@p2proxy/p2proxy/client";

const [optionsFile, certFile, whoamiPort, tlsPort] = Deno.args;
const client = await createClient({
  ...JSON.parse(await Deno.readTextFile(optionsFile)),
  caCerts: [await Deno.readTextFile(certFile)],
});

const socket = client.connect({ hostname: "127.0.0.1", port: Number(whoamiPort) }, { country: "NL" });
const { exit } = await socket.opened;
const writer = socket.writable.getWriter();
await writer.write(new TextEncoder().encode("GET / HTTP/1.0\\r\\nHost: whoami\\r\\n\\r\\n"));
await writer.close();
const raw = await new Response(socket.readable).text();

const plain = await client.fetch(\`http://127.0.0.1:\${whoamiPort}/\`, { country: "DE" });
const tls = await client.fetch(\`https://localhost:\${tlsPort}/hello\`, { country: "NL" });

let refusal = "none";
try {
  await client.connect({ hostname: "10.20.30.40", port: 80 }, { country: "DE" }).opened;
} catch (error) {
  refusal = error instanceof ClientError ? error.code : String(error);
}

console.log(JSON.stringify({
  exit,
  raw: raw.split("\\r\\n\\r\\n")[1],
  plain: { ok: plain instanceof Response, status: plain.status, body: await plain.text() },
  tls: await tls.text(),
  refusal,
}));
await client.close();
// No Deno.exit: the process must end by itself once the client is closed.
`;

async function waitForFile(path: string, demo: Deno.ChildProcess, logs: () => string) {
  const deadline = Date.now() + DEMO_READY_MS;
  let ended = false;
  demo.status.then(() => ended = true);
  while (Date.now() < deadline) {
    try {
      return await Deno.readTextFile(path);
    } catch {
      if (ended) throw new Error(`The demo ended before writing ${path}:\n${logs()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  throw new Error(`The demo wrote no ${path} within ${DEMO_READY_MS} ms:\n${logs()}`);
}

Deno.test("a consumer folder imports ./client, reaches the demo's exits and ends by itself", async () => {
  const work = await Deno.makeTempDir({ prefix: "p2proxy-client-consumer-" });
  const optionsFile = join(work, "client.json");
  const whoamiPort = freePort();
  const cert = await Deno.readTextFile(TEST_CERT);
  const key = await Deno.readTextFile(TEST_KEY);
  const tlsServer = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, onListen() {} },
    (request, info) =>
      new Response(`tls from ${info.remoteAddr.hostname} ${new URL(request.url).pathname}\n`),
  );
  const demo = new Deno.Command(Deno.execPath(), {
    args: [
      ...["run", "-A", "--no-prompt", CLI_MAIN, "demo", "--metrics-port", "0"],
      ...["--port", String(freePort()), "--whoami-port", String(whoamiPort)],
      ...["--client-config", optionsFile, "--log-level", "warn"],
    ],
    env: { P2PROXY_DEMO_RESOLVER: "resolver-static", NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let demoLog = "";
  const pump = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of demo.stderr) demoLog += decoder.decode(chunk, { stream: true });
  })();
  try {
    const options = JSON.parse(await waitForFile(optionsFile, demo, () => demoLog));
    assert.equal(options.bootstrap.length, 1, "the options name the demo's hub");

    const consumer = join(work, "consumer");
    await Deno.mkdir(consumer);
    await Deno.writeTextFile(
      join(consumer, "deno.json"),
      JSON.stringify({ links: [REPO_ROOT], nodeModulesDir: "auto" }),
    );
    await Deno.writeTextFile(join(consumer, "main.ts"), CONSUMER_SCRIPT);

    const script = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        "--allow-net",
        "--allow-env",
        `--allow-read=${optionsFile},${TEST_CERT}`,
        "main.ts",
        ...[optionsFile, TEST_CERT, String(whoamiPort), String(tlsServer.addr.port)],
      ],
      cwd: consumer,
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      script.kill("SIGKILL");
    }, SCRIPT_MS);
    const output = await script.output();
    clearTimeout(timer);
    const stdout = new TextDecoder().decode(output.stdout);
    const stderr = new TextDecoder().decode(output.stderr);
    assert.ok(!killed, `the script did not end by itself within ${SCRIPT_MS} ms:\n${stderr}`);
    assert.equal(output.code, 0, `${stdout}\n${stderr}`);

    const seen = JSON.parse(stdout.trim().split("\n").at(-1)!);
    assert.equal(seen.exit.country, "NL");
    assert.match(seen.exit.peerId, /^12D3KooW/);
    assert.equal(seen.raw, "you came from 127.0.0.2\n", "connect(): the NL exit's address");
    assert.deepEqual(seen.plain, { ok: true, status: 200, body: "you came from 127.0.0.3\n" });
    assert.equal(seen.tls, "tls from 127.0.0.2 /hello\n", "https through the NL exit");
    assert.equal(seen.refusal, "policy_denied", "the exit's egress policy, as a code");
  } finally {
    try {
      demo.kill("SIGTERM");
    } catch { /* already ended */ }
    await demo.status;
    await pump;
    await tlsServer.shutdown();
    await Deno.remove(work, { recursive: true });
  }
});
