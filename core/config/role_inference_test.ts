import assert from "node:assert/strict";
import fc from "fast-check";
import { ConfigError } from "./problems.ts";
import { loadAuthConfig } from "./auth_config.ts";
import {
  type ConfigFileRole,
  decisionNote,
  inferRole,
  roleNamedBy,
  type UndecidedRole,
  undecidedRoleMessage,
} from "./role_inference.ts";

const HUB = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWS6M2cP13vSHoPXVYbmYvhFgZowNrwyy7VkvbEUgXiXGZ";

function undecided(text: string, source: string): UndecidedRole {
  const inference = inferRole(text, source);
  assert.equal(inference.role, undefined, JSON.stringify(inference));
  return inference as UndecidedRole;
}

Deno.test("inferRole: a key only one role takes decides", () => {
  const cases: Array<[string, ConfigFileRole]> = [
    ["servers: [{ port: 1080 }]\n", "proxy"],
    // A legacy spelling counts as the key it stands for.
    [`bootstrap_address: ${HUB}\nservers: [{ port: 1080 }]\n`, "proxy"],
    ["attributes: { country: NL }\n", "exit"],
    ["bind_address: 127.0.0.1\nstate_dir: x\n", "exit"],
    ["missed_heartbeats: 5\n", "hub"],
    ["find_nodes_max: 10\nrelay: { max_reservations: 1 }\n", "hub"],
    ["listen: 127.0.0.1:8443\nstate_dir: auth-state\nnetwork_id: lab\n", "auth"],
    ['{ "api_keys": [] }', "auth"],
  ];
  for (const [text, role] of cases) {
    const source = text.startsWith("{") ? "a.json" : "a.yaml";
    assert.deepEqual(inferRole(text, source), { role, by: "keys", candidates: [role] }, text);
  }
});

Deno.test("inferRole: the keys decide even against the file name", () => {
  assert.equal(inferRole("missed_heartbeats: 5\n", "Exit.yaml").role, "hub");
});

Deno.test("inferRole: shared keys only — the file name breaks the tie", () => {
  // The README's Hub.yaml: every key is one the exit takes too.
  const readmeHub = `listen_addrs: [/ip4/127.0.0.1/tcp/4001]\nstate_dir: hub-state\n` +
    `auth: { provider: connect, url: "http://127.0.0.1:8443", network_id: lab }\n`;
  assert.deepEqual(inferRole(readmeHub, "Hub.yaml"), {
    role: "hub",
    by: "file-name",
    candidates: ["exit", "hub"],
  });
  assert.equal(inferRole(readmeHub, "/etc/p2proxy/exit-nl.yaml").role, "exit");
  const decided = inferRole(readmeHub, "Hub.yaml");
  assert.ok(decided.role !== undefined);
  assert.equal(decisionNote(decided), "from the file name: its keys fit exit and hub");
  const byKeys = inferRole("missed_heartbeats: 5\n", "Hub.yaml");
  assert.ok(byKeys.role !== undefined);
  assert.equal(decisionNote(byKeys), "");
  // The name must name one of the roles the keys fit.
  assert.deepEqual(undecided(readmeHub, "Auth.yaml").candidates, ["exit", "hub"]);
});

Deno.test("inferRole: shared keys and no telling name — the roles it could be", () => {
  const inference = undecided("log_level: debug\n", "settings.yaml");
  assert.deepEqual(inference.candidates, ["exit", "hub", "auth"]);
  const message = undecidedRoleMessage(inference, "settings.yaml");
  assert.match(message, /"settings\.yaml"/);
  assert.match(message, /fit exit, hub and auth/);
  assert.match(message, /--role exit\|hub\|auth/);
  assert.deepEqual(undecided("", "empty.yaml").candidates, ["exit", "hub", "auth"]);
});

Deno.test("inferRole: no role takes the keys — what each refuses, with hints", () => {
  const inference = undecided("servres:\n  - port: 1080\nmissed_heartbeats: 3\n", "x.yaml");
  assert.deepEqual(inference.candidates, []);
  const message = undecidedRoleMessage(inference, "x.yaml");
  assert.match(message, /no role takes all of its keys/);
  assert.match(message, /- `servres` \(did you mean `servers`\?\) is not a key of any role/);
  assert.equal(message.match(/servres/g)?.length, 1, "said once, not per role");
  assert.match(message, /- proxy: does not take `missed_heartbeats`; needs `servers`/);
  assert.match(message, /- exit: does not take `missed_heartbeats`/);
  assert.doesNotMatch(message, /- hub:/, "the hub takes missed_heartbeats");
  assert.match(message, /--role proxy\|exit\|hub\|auth/);
  // A name that names a role picks it, so its own loader reports the details.
  assert.deepEqual(inferRole("servres: []\n", "Config.yaml"), {
    role: "proxy",
    by: "file-name",
    candidates: [],
  });
});

Deno.test("inferRole: a syntax error is a syntax error, with line and column", () => {
  for (const [text, source] of [["servers:\n  - port: [1080\n", "a.yaml"], ["{,}", "a.json"]]) {
    try {
      inferRole(text!, source!);
      assert.fail("expected a ConfigError");
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      assert.equal(error.code, "syntax");
      assert.ok(error.problems[0]?.line !== undefined && error.problems[0].column !== undefined);
    }
  }
});

Deno.test("inferRole: arbitrary text decides, is undecided, or throws a ConfigError", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), fc.constantFrom("a.yaml", "Hub.json"), (t, s) => {
      try {
        const inference = inferRole(t, s);
        if (inference.role === undefined) undecidedRoleMessage(inference, s);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
      }
    }),
  );
});

Deno.test("roleNamedBy: a role as a word of the name, or the anchor's Config.yaml", () => {
  const cases: Array<[string, ConfigFileRole | undefined]> = [
    ["Hub.yaml", "hub"],
    ["/srv/p2proxy/EXIT-nl.yml", "exit"],
    ["auth_service.json", "auth"],
    ["my.proxy.yaml", "proxy"],
    ["Config.yaml", "proxy"],
    ["hub-config.yaml", "hub"],
    ["hubble.yaml", undefined],
    ["exit-to-hub.yaml", undefined],
    ["settings.yaml", undefined],
  ];
  for (const [source, role] of cases) assert.equal(roleNamedBy(source), role, source);
});

Deno.test("auth config: node keys get a message of their own", () => {
  try {
    loadAuthConfig("metrics_port: 9094\nlisten_addrs: [/ip4/127.0.0.1/tcp/1]\n", {
      source: "Auth.yaml",
    });
    assert.fail("expected a ConfigError");
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    const byPath = new Map(error.problems.map((p) => [p.path, p.message]));
    assert.match(byPath.get("metrics_port") ?? "", /no metrics endpoint/);
    assert.match(byPath.get("listen_addrs") ?? "", /`listen`/);
  }
});
