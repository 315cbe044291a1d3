/**
 * The auth service deployed as a fetch handler (docs/authentication.md#serverless), with real
 * processes on loopback: `p2proxy auth export-env` turns an Auth.yaml and its state dir into
 * environment variables; `deno serve` runs `jsr:@p2proxy/p2proxy/auth-handler` from a consumer
 * folder linked to this package, with nothing but those variables and its own port granted; a
 * hub, an exit and a proxy (provider connect) fetch their tokens from it, and curl goes through.
 *
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import {
  freePort,
  type LaunchedRole,
  launchPrintedLine,
  type NodeProcess,
  startExit,
  startHub,
  startProxy,
  waitUntilListening,
} from "../scripts/cluster.ts";
import {
  AUTH_API_KEYS_ENV,
  AUTH_HANDLER_ENV,
  AUTH_SIGNING_KEY_ENV,
} from "../auth-service/env_settings.ts";
import { LOG_FORMAT_ENV } from "../cli/logging.ts";
import { formatEnvFile } from "../cli/commands/auth.ts";
import { addApiKey, firstCurlVia, runCli, startWhoami, waitForLog } from "./_auth.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

/** The network the handler's tokens are for. */
const NETWORK_ID = "handler-net";
/** Bound on `deno serve` listening: the consumer folder installs its npm packages first. */
const SERVE_READY_MS = 90_000;
/** Bound on one CLI run. */
const CLI_TIMEOUT_MS = 30_000;
/** Bound on the first curl through the proxy (discovery through the hub included). */
const FIRST_CURL_MS = 30_000;
/** Bound on a log line appearing. */
const LOG_WITHIN_MS = 15_000;
/** Bound on a graceful stop before SIGKILL. */
const STOP_GRACE_MS = 5_000;

/** The names and values of `NAME='value'` lines, as a shell would read them. */
function parseEnvFile(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split("\n").filter((l) => l.trim() !== "")) {
    const match = /^([A-Z0-9_]+)='([^']*)'$/.exec(line);
    assert.ok(match, `not a NAME='value' line: ${line}`);
    values[match[1]!] = match[2]!;
  }
  return values;
}

/** A folder that uses the package the way a published consumer would: through a link. */
async function consumerFolder(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "p2proxy-auth-handler-consumer-" });
  await Deno.writeTextFile(
    `${dir}/deno.json`,
    JSON.stringify({ links: [ROOT], nodeModulesDir: "auto" }, null, 2),
  );
  return dir;
}

/** `deno serve` of the auth-handler export with exactly `--allow-env=<its variables>` and its port. */
function serveAuthHandler(
  options: { cwd: string; port: number; env: Record<string, string> },
): LaunchedRole {
  const variables = [...AUTH_HANDLER_ENV, LOG_FORMAT_ENV].join(",");
  const line = [
    "deno serve --no-prompt",
    `--host 127.0.0.1 --port ${options.port}`,
    `--allow-env=${variables}`,
    `--allow-net=127.0.0.1:${options.port}`,
    "jsr:@p2proxy/p2proxy/auth-handler",
  ].join(" ");
  return launchPrintedLine(line, { cwd: options.cwd, env: options.env });
}

Deno.test("auth export-env, then the auth handler under deno serve: an exit and a proxy get tokens from it and curl goes through", async (t) => {
  const dirs: string[] = [];
  const nodes: NodeProcess[] = [];
  let served: LaunchedRole | undefined;
  const whoami = startWhoami();
  try {
    const stateDir = await Deno.makeTempDir({ prefix: "p2proxy-auth-handler-" });
    dirs.push(stateDir);
    const configPath = `${stateDir}/Auth.yaml`;
    await Deno.writeTextFile(
      configPath,
      stringify({ network_id: NETWORK_ID, state_dir: stateDir, token_ttl_secs: 600 }),
    );
    const apiKeys = {
      proxy: await addApiKey(configPath, "proxy", "laptop"),
      exit: await addApiKey(configPath, "exit", "exit-1"),
    };

    const exported = await runCli(["auth", "export-env", "-c", configPath], {
      timeoutMs: CLI_TIMEOUT_MS,
    });
    let env: Record<string, string> = {};
    await t.step("export-env prints the variables to stdout, and the secret nowhere else", () => {
      assert.equal(exported.code, 0, exported.stderr);
      env = parseEnvFile(exported.stdout);
      const keyFile = Deno.readTextFileSync(`${stateDir}/auth_signing_key.pem`);
      assert.ok(
        keyFile.replace(/-----[A-Z ]+-----|\s/g, "") === env[AUTH_SIGNING_KEY_ENV],
        "the signing key of the state dir, on one line",
      );
      assert.equal(env.P2PROXY_NETWORK_ID, NETWORK_ID);
      assert.equal(env.P2PROXY_TOKEN_TTL_SECS, "600");
      const listed = JSON.parse(env[AUTH_API_KEYS_ENV]!) as { name: string; role: string }[];
      assert.deepEqual(listed.map((k) => `${k.name}:${k.role}`), ["laptop:proxy", "exit-1:exit"]);
      assert.ok(!exported.stderr.includes(env[AUTH_SIGNING_KEY_ENV]!), "no key on stderr");
      for (const key of Object.values(apiKeys)) {
        assert.ok(!exported.stdout.includes(key), "API keys are never exported, only hashes");
      }
      assert.match(exported.stderr, /never in a repository/);
    });

    const consumer = await consumerFolder();
    dirs.push(consumer);
    const port = freePort();
    served = serveAuthHandler({ cwd: consumer, port, env });
    await waitUntilListening(served, port, "deno serve (auth handler)", SERVE_READY_MS);
    const url = `http://127.0.0.1:${port}`;
    await t.step("the handler answers its health check", async () => {
      const health = await fetch(`${url}/healthz`);
      assert.equal(await health.text(), "ok\n");
    });

    await t.step(
      "a hub, an exit and a proxy fetch their tokens from it; curl goes through",
      async () => {
        const auth = { provider: "connect", url, network_id: NETWORK_ID };
        const hub = await startHub({ auth });
        nodes.push(hub);
        const exit = await startExit({
          auth,
          api_key: apiKeys.exit,
          bootstrap: [hub.address],
          relay: "never",
          egress: { allow_cidrs: ["127.0.0.1/32"] },
        });
        nodes.push(exit);
        const socksPort = freePort();
        const proxy = await startProxy({
          servers: [{ port: socksPort }],
          bootstrap: [hub.address],
          auth,
          api_key: apiKeys.proxy,
        });
        nodes.push(proxy);
        const result = await firstCurlVia(socksPort, whoami.url, FIRST_CURL_MS);
        assert.equal(result.body, "whoami 127.0.0.1\n");
        await waitForLog(
          served!,
          new RegExp(`Issued a exit token to ${exit.peerId}`),
          LOG_WITHIN_MS,
        );
        await waitForLog(served!, new RegExp(`Issued a proxy token to ${proxy.peerId}`), 1_000);
      },
    );
    assert.doesNotMatch(
      served.logs(),
      /NotCapable|Requires .* access/,
      "no permission was missing",
    );
  } finally {
    await Promise.all(nodes.map((node) => node.stop(STOP_GRACE_MS)));
    await served?.stop(STOP_GRACE_MS);
    await whoami.close();
    for (const dir of dirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("the auth handler refuses to start without its signing key, naming the variable", async () => {
  const consumer = await consumerFolder();
  const port = freePort();
  const served = serveAuthHandler({
    cwd: consumer,
    port,
    env: { [AUTH_API_KEYS_ENV]: "[]", [AUTH_SIGNING_KEY_ENV]: "" },
  });
  // It must end by itself; the timer only bounds a failing test.
  const timer = setTimeout(() => void served.kill(), SERVE_READY_MS);
  try {
    const status = await served.finished();
    assert.equal(status.code, 1, served.logs());
    assert.match(served.logs(), /P2PROXY_AUTH_SIGNING_KEY: Not set/);
    assert.match(served.logs(), /p2proxy auth export-env/);
  } finally {
    clearTimeout(timer);
    await served.stop(STOP_GRACE_MS);
    await Deno.remove(consumer, { recursive: true }).catch(() => {});
  }
});

Deno.test("export-env's lines read back through a shell, quotes in key names included", async () => {
  const values = {
    [AUTH_API_KEYS_ENV]: JSON.stringify([{ name: "o'brien", hash: "sha256:x", role: "proxy" }]),
    P2PROXY_ISSUER: "acme auth",
  };
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/auth.env`, formatEnvFile(values));
    const output = await new Deno.Command("sh", {
      args: ["-c", '. ./auth.env && printf "%s\\n%s" "$P2PROXY_AUTH_API_KEYS" "$P2PROXY_ISSUER"'],
      cwd: dir,
      stdout: "piped",
    }).output();
    const [keys, issuer] = new TextDecoder().decode(output.stdout).split("\n");
    assert.deepEqual(JSON.parse(keys!), JSON.parse(values[AUTH_API_KEYS_ENV]));
    assert.equal(issuer, "acme auth");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.throws(
    () => formatEnvFile({ P2PROXY_ISSUER: "o'brien's auth" }),
    /P2PROXY_ISSUER holds a quote or a line break.*--format json/,
  );
});
