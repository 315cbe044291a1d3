import assert from "node:assert/strict";
import {
  definitionProblems,
  PLUGIN_API_VERSION,
  type PluginDefinition,
} from "../../core/plugin/contract.ts";
import { planComposition } from "../../core/plugin/host.ts";
import { renderPermissionFlags } from "../../core/plugin/permissions.ts";
import { AuthError } from "../../core/ports/authenticator.ts";
import { FileIdentity } from "../identity-file/file_identity.ts";
import { SystemClock } from "../clock-system/system_clock.ts";
import { plugin as clockSystem } from "../clock-system/mod.ts";
import { plugin as identityFile } from "../identity-file/mod.ts";
import { startTestAuthService } from "../../runtime/auth/_test_support.ts";
import defaultExport, { API_KEY_ENV_VAR, ConnectAuthenticator, netGrantOf, plugin } from "./mod.ts";

const generic = plugin as unknown as PluginDefinition;
const URL_OPTION = { url: "http://127.0.0.1:8443" };

async function contextFor(role: "proxy" | "exit" | "hub") {
  const identity = await FileIdentity.generate();
  const clock = new SystemClock();
  return {
    stateDir: ".",
    role,
    // deno-lint-ignore no-explicit-any
    get: (capability: string): any => {
      if (capability === "identity") return identity;
      if (capability === "clock") return clock;
      return assert.fail(`auth-connect asked for ${capability}`);
    },
  };
}

/** Runs `fn` with P2PROXY_API_KEY set to `value` (or unset), restoring it afterwards. */
async function withEnvKey(value: string | undefined, fn: () => Promise<void>) {
  const before = Deno.env.get(API_KEY_ENV_VAR);
  if (value === undefined) Deno.env.delete(API_KEY_ENV_VAR);
  else Deno.env.set(API_KEY_ENV_VAR, value);
  try {
    await fn();
  } finally {
    if (before === undefined) Deno.env.delete(API_KEY_ENV_VAR);
    else Deno.env.set(API_KEY_ENV_VAR, before);
  }
}

Deno.test("auth-connect is a valid plugin providing authenticator, requiring identity and clock", () => {
  assert.equal(defaultExport, plugin);
  assert.deepEqual(definitionProblems(generic), []);
  assert.equal(plugin.name, "@p2proxy/auth-connect");
  assert.equal(plugin.api, PLUGIN_API_VERSION);
  assert.deepEqual(plugin.provides, ["authenticator"]);
  assert.deepEqual(plugin.requires, ["identity", "clock"]);
  const plan = planComposition({
    plugins: [generic, identityFile, clockSystem] as unknown as PluginDefinition[],
    needs: ["authenticator"],
    options: { [plugin.name]: URL_OPTION },
  });
  assert.equal(plan.providers.get("authenticator"), plugin.name);
});

Deno.test("auth-connect options: url required, strict, with defaults", () => {
  assert.deepEqual(plugin.options.parse(URL_OPTION), {
    url: "http://127.0.0.1:8443",
    transport: "connect",
    refresh_at: 0.8,
    timeout_secs: 10,
  });
  const full = {
    url: "https://auth.example.com",
    transport: "grpc",
    api_key: "p2pk_x",
    role: "exit",
    refresh_at: 0.5,
    timeout_secs: 3,
    ca_cert: "/etc/ca.pem",
  };
  assert.deepEqual(plugin.options.parse(full), full);
  const missing = plugin.options.safeParse({});
  assert.equal(missing.success, false);
  assert.match(JSON.stringify(missing.error?.issues), /base URL/);
  for (
    const bad of [
      { url: "ftp://x" },
      { url: "not a url" },
      { ...URL_OPTION, transport: "websocket" },
      { ...URL_OPTION, role: "hub" },
      { ...URL_OPTION, refresh_at: 1 },
      { ...URL_OPTION, refresh_at: 0 },
      { ...URL_OPTION, timeout_secs: 0 },
      { ...URL_OPTION, api_key: "" },
      { ...URL_OPTION, apikey: "x" },
    ]
  ) {
    assert.equal(plugin.options.safeParse(bad).success, false, JSON.stringify(bad));
  }
});

Deno.test("auth-connect permissions: the URL's host and port, the env key only when needed", () => {
  const ctx = { stateDir: ".", role: "proxy" as const };
  assert.deepEqual(plugin.permissions?.(plugin.options.parse(URL_OPTION), ctx), {
    net: ["127.0.0.1:8443"],
    env: [API_KEY_ENV_VAR],
  });
  assert.deepEqual(
    plugin.permissions?.(
      plugin.options.parse({ url: "https://auth.example.com/", api_key: "k", ca_cert: "ca.pem" }),
      ctx,
    ),
    { net: ["auth.example.com:443"], read: ["ca.pem"] },
  );
  assert.equal(netGrantOf("http://[::1]/"), "[::1]:80");
});

Deno.test("auth-connect takes the key from its options, else from P2PROXY_API_KEY, else refuses", async () => {
  await withEnvKey("p2pk_from_env", async () => {
    const created = await plugin.create(
      plugin.options.parse({ ...URL_OPTION, api_key: "p2pk_from_options" }),
      await contextFor("proxy"),
    );
    assert.ok(created.provides.authenticator instanceof ConnectAuthenticator);
    await created.stop?.();
    const fromEnv = await plugin.create(plugin.options.parse(URL_OPTION), await contextFor("exit"));
    await fromEnv.stop?.();
  });
  await withEnvKey(undefined, async () => {
    await assert.rejects(
      async () => plugin.create(plugin.options.parse(URL_OPTION), await contextFor("proxy")),
      (error) => {
        assert.ok(error instanceof AuthError);
        assert.equal(error.code, "rejected");
        assert.match(error.message, /`api_key`.*P2PROXY_API_KEY/);
        return true;
      },
    );
  });
  await assert.rejects(
    async () =>
      plugin.create(plugin.options.parse({ ...URL_OPTION, api_key: "k" }), await contextFor("hub")),
    (error) => error instanceof AuthError && /`role`/.test(error.message),
  );
});

Deno.test("auth-connect gets tokens under exactly its declared permissions", async () => {
  await using service = await startTestAuthService({ grpc: true });
  for (
    const [transport, url] of [
      ["connect", service.server.url],
      ["grpc", service.server.grpcUrl!],
    ] as const
  ) {
    const options = plugin.options.parse({ url, transport });
    const flags = renderPermissionFlags(
      plugin.permissions!(options, { stateDir: ".", role: "proxy" }),
    );
    assert.deepEqual(flags, [`--allow-net=${netGrantOf(url)}`, `--allow-env=${API_KEY_ENV_VAR}`]);
    const probe = `
      import { plugin } from ${JSON.stringify(new URL("./mod.ts", import.meta.url).href)};
      import { FileIdentity } from ${
      JSON.stringify(new URL("../identity-file/file_identity.ts", import.meta.url).href)
    };
      import { SystemClock } from ${
      JSON.stringify(new URL("../clock-system/system_clock.ts", import.meta.url).href)
    };
      const identity = await FileIdentity.generate();
      const clock = new SystemClock();
      const ports = { identity, clock };
      const instance = await plugin.create(plugin.options.parse(${
      JSON.stringify({ url, transport })
    }),
        { stateDir: ".", role: "proxy", get: (c) => ports[c] });
      await instance.start();
      const token = await instance.provides.authenticator.token();
      let other = "allowed";
      try { await Deno.connect({ hostname: "127.0.0.1", port: 1 }); } catch (error) { other = error.name; }
      await instance.stop();
      console.log(JSON.stringify({ parts: token.split(".").length, other }));
    `;
    const result = await runUnder(flags, probe, { [API_KEY_ENV_VAR]: service.apiKeys.proxy });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { parts: 3, other: "NotCapable" }, transport);
  }
});

/** Runs `code` in a fresh Deno with only `flags` (and the project's config for imports). */
async function runUnder(flags: readonly string[], code: string, env: Record<string, string>) {
  const script = await Deno.makeTempFile({ prefix: "p2proxy-perm-probe-", suffix: ".ts" });
  try {
    await Deno.writeTextFile(script, code);
    const config = new URL("../../deno.json", import.meta.url).pathname;
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--no-prompt", `--config=${config}`, ...flags, script],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
  } finally {
    await Deno.remove(script);
  }
}
