import assert from "node:assert/strict";
import { join } from "node:path";
import { generateKeyPair, privateKeyToProtobuf, publicKeyFromProtobuf } from "@libp2p/crypto/keys";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { identityCompliance } from "../../core/testing/compliance/identity.ts";
import { createIdentityFile, FileIdentity, loadOrCreateIdentity } from "./file_identity.ts";
import { IdentityError } from "./identity_error.ts";
import { renderPermissionFlags } from "../../core/plugin/permissions.ts";
import { runUnder } from "../../tests/_permission_probe.ts";
import { identityFilePath, plugin } from "./mod.ts";

const FILE = "node_keypair.bin";
const isWindows = Deno.build.os === "windows";

/** Routes p2proxy logs into `records` until `stop()`. */
async function captureLogs() {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (record: LogRecord) => records.push(record) },
    loggers: [
      { category: ["p2proxy"], sinks: ["memory"], lowestLevel: "debug" },
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
    ],
  });
  return { warnings: () => records.filter((r) => r.level === "warning"), stop: () => reset() };
}

async function withStateDir(fn: (dir: string, path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "p2proxy-identity-" });
  try {
    await fn(dir, join(dir, FILE));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

/** Asserts `promise` rejects with an IdentityError of `code` that names `path` and says what to do. */
async function assertIdentityError(promise: Promise<unknown>, code: string, path: string) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof IdentityError, String(error));
    assert.equal(error.code, code);
    assert.equal(error.path, path);
    assert.ok(error.message.includes(`"${path}"`), `message names the file: ${error.message}`);
    return true;
  });
}

Deno.test("a file identity passes the identity compliance suite", (t) =>
  identityCompliance(t, async () => {
    const dir = await Deno.makeTempDir({ prefix: "p2proxy-identity-compliance-" });
    const path = join(dir, FILE);
    const { identity } = await loadOrCreateIdentity(path);
    return {
      identity,
      reopen: async () => (await loadOrCreateIdentity(path)).identity,
      cleanup: () => Deno.remove(dir, { recursive: true }),
    };
  }));

Deno.test("a generated in-memory identity passes the identity compliance suite", (t) =>
  identityCompliance(t, async () => ({ identity: await FileIdentity.generate() })));

Deno.test("loadOrCreateIdentity creates the key with mode 0600 and a stable peer id", async () => {
  await withStateDir(async (dir, path) => {
    const first = await loadOrCreateIdentity(path);
    assert.equal(first.created, true);
    if (!isWindows) assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.deepStrictEqual(await Deno.readFile(path), first.identity.privateKey);

    const second = await loadOrCreateIdentity(path);
    assert.equal(second.created, false);
    assert.equal(second.identity.peerId, first.identity.peerId);
    assert.deepStrictEqual(second.identity.publicKey, first.identity.publicKey);
    assert.deepStrictEqual(await listDir(dir), [FILE], "no temp file is left behind");
  });
});

Deno.test("loadOrCreateIdentity creates a missing state directory", async () => {
  await withStateDir(async (dir) => {
    const path = join(dir, "a", "b", FILE);
    const { created } = await loadOrCreateIdentity(path);
    assert.equal(created, true);
    assert.equal((await loadOrCreateIdentity(path)).created, false);
  });
});

Deno.test("concurrent first runs agree on one identity", async () => {
  await withStateDir(async (dir, path) => {
    const results = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateIdentity(path)));
    assert.equal(new Set(results.map((r) => r.identity.peerId)).size, 1);
    assert.equal(results.filter((r) => r.created).length, 1);
    assert.deepStrictEqual(await listDir(dir), [FILE]);
  });
});

Deno.test("a corrupt identity file is an error naming it, and the file is untouched", async (t) => {
  const valid = privateKeyToProtobuf(await generateKeyPair("Ed25519"));
  const flippedPublicHalf = valid.slice();
  flippedPublicHalf[flippedPublicHalf.length - 1]! ^= 0xff;
  const cases: [string, Uint8Array][] = [
    ["garbage", new TextEncoder().encode("this is not a key")],
    ["empty", new Uint8Array(0)],
    ["truncated", valid.slice(0, 20)],
    ["public half of another key", flippedPublicHalf],
  ];
  for (const [name, bytes] of cases) {
    await t.step(name, async () => {
      await withStateDir(async (dir, path) => {
        await Deno.writeFile(path, bytes, { mode: 0o600 });
        const before = await Deno.stat(path);
        await assertIdentityError(loadOrCreateIdentity(path), "corrupt", path);
        await assert.rejects(loadOrCreateIdentity(path), /move the file away/);
        assert.deepStrictEqual(await Deno.readFile(path), bytes, "the file is never replaced");
        assert.equal((await Deno.stat(path)).mtime?.getTime(), before.mtime?.getTime());
        assert.deepStrictEqual(await listDir(dir), [FILE]);
      });
    });
  }
});

Deno.test("a key of another type is a wrong-key-type error", async () => {
  await withStateDir(async (_dir, path) => {
    const bytes = privateKeyToProtobuf(await generateKeyPair("secp256k1"));
    await Deno.writeFile(path, bytes);
    await assertIdentityError(loadOrCreateIdentity(path), "wrong-key-type", path);
    await assert.rejects(loadOrCreateIdentity(path), /secp256k1/);
    assert.deepStrictEqual(await Deno.readFile(path), bytes);
  });
});

Deno.test("an unreadable identity path is an unreadable error", async () => {
  await withStateDir(async (_dir, path) => {
    await Deno.mkdir(path);
    await assertIdentityError(loadOrCreateIdentity(path), "unreadable", path);
  });
});

Deno.test("createIdentityFile refuses to replace an existing file", async () => {
  await withStateDir(async (dir, path) => {
    const existing = await createIdentityFile(path);
    const bytes = await Deno.readFile(path);
    await assertIdentityError(createIdentityFile(path), "exists", path);
    assert.deepStrictEqual(await Deno.readFile(path), bytes);
    assert.equal((await loadOrCreateIdentity(path)).identity.peerId, existing.peerId);
    assert.deepStrictEqual(await listDir(dir), [FILE]);
  });
});

Deno.test("createIdentityFile reports a folder it cannot create", async () => {
  await withStateDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "plain-file"), "");
    const path = join(dir, "plain-file", FILE);
    await assertIdentityError(createIdentityFile(path), "unwritable", path);
  });
});

Deno.test({
  name: "an identity file readable by others loads with a warning",
  ignore: isWindows,
  fn: async () => {
    const logs = await captureLogs();
    try {
      await withStateDir(async (_dir, path) => {
        await createIdentityFile(path);
        assert.deepStrictEqual(logs.warnings(), []);
        await loadOrCreateIdentity(path);
        assert.deepStrictEqual(logs.warnings(), [], "a 0600 file loads quietly");
        await Deno.chmod(path, 0o644);
        await loadOrCreateIdentity(path);
        assert.equal(logs.warnings().length, 1);
        assert.equal(logs.warnings()[0]!.properties.mode, "0644");
        assert.equal(logs.warnings()[0]!.properties.path, path);
      });
    } finally {
      await logs.stop();
    }
  },
});

Deno.test("FileIdentity signs with its key; the public key verifies", async () => {
  const key = await generateKeyPair("Ed25519");
  const identity = FileIdentity.fromPrivateKey(key);
  const data = new TextEncoder().encode("hello");
  const signature = await identity.sign(data);
  assert.equal(signature.constructor, Uint8Array);
  assert.equal(signature.byteLength, 64);
  assert.equal(await publicKeyFromProtobuf(identity.publicKey).verify(data, signature), true);
  assert.equal(identity.libp2pKey, key);
  assert.equal(identity.peerId, (await FileIdentity.fromProtobuf(identity.privateKey, "x")).peerId);
});

Deno.test("FileIdentity hands out copies of its keys", async () => {
  const identity = await FileIdentity.generate();
  const publicKey = identity.publicKey;
  publicKey.fill(0);
  assert.notDeepStrictEqual(identity.publicKey, publicKey);
  const privateKey = identity.privateKey;
  privateKey.fill(0);
  assert.notDeepStrictEqual(identity.privateKey, privateKey);
});

// ---------------------------------------------------------------------------
// The plugin (mod.ts): where the key file is, and the permissions that takes.

const contextFor = (stateDir: string) => ({
  stateDir,
  role: "exit" as const,
  get: () => assert.fail("identity-file requires nothing"),
  find: () => assert.fail("identity-file wants nothing"),
});

Deno.test("the identity-file plugin's identity passes the identity compliance suite", (t) =>
  identityCompliance(t, async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "p2proxy-identity-plugin-" });
    const create = async () =>
      (await plugin.create(plugin.options.parse({}), contextFor(stateDir))).provides.identity;
    return {
      identity: await create(),
      reopen: create,
      cleanup: () => Deno.remove(stateDir, { recursive: true }),
    };
  }));

Deno.test("identity-file refuses an empty file name", () => {
  assert.equal(plugin.options.safeParse({ file: "" }).success, false);
});

Deno.test("identity-file asks for read and write on exactly the key's folder", () => {
  const ctx = { stateDir: "/var/lib/p2proxy", role: "exit" as const };
  assert.deepEqual(plugin.permissions?.(plugin.options.parse({}), ctx), {
    read: ["/var/lib/p2proxy"],
    write: ["/var/lib/p2proxy"],
  });
  assert.deepEqual(plugin.permissions?.({ file: "/etc/p2proxy/keys/node.bin" }, ctx), {
    read: ["/etc/p2proxy/keys"],
    write: ["/etc/p2proxy/keys"],
  });
});

Deno.test("identityFilePath resolves against the state directory unless absolute", () => {
  assert.equal(identityFilePath("/s", "node_keypair.bin"), "/s/node_keypair.bin");
  assert.equal(identityFilePath(".", "node_keypair.bin"), "node_keypair.bin");
  assert.equal(identityFilePath("/s", "/k/x.bin"), "/k/x.bin");
});

Deno.test("identity-file create() loads the same identity each time and refuses a corrupt file", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "p2proxy-identity-plugin-" });
  try {
    const first = await plugin.create({ file: "k.bin" }, contextFor(stateDir));
    const second = await plugin.create({ file: "k.bin" }, contextFor(stateDir));
    assert.ok(first.provides.identity instanceof FileIdentity);
    assert.equal(first.provides.identity.peerId, second.provides.identity.peerId);
    await Deno.writeTextFile(join(stateDir, "bad.bin"), "garbage");
    await assert.rejects(
      Promise.resolve(plugin.create({ file: "bad.bin" }, contextFor(stateDir))),
      (error) => error instanceof IdentityError && error.code === "corrupt",
    );
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("identity-file works under exactly its declared permissions", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "p2proxy-identity-perms-" });
  try {
    // A state dir that does not exist yet: creating it must fit in the same permissions.
    const nodeStateDir = join(stateDir, "state");
    const flags = renderPermissionFlags(
      plugin.permissions!(plugin.options.parse({}), { stateDir: nodeStateDir, role: "exit" }),
    );
    const probe = `
      import { plugin } from ${JSON.stringify(new URL("./mod.ts", import.meta.url).href)};
      const ctx = { stateDir: ${JSON.stringify(nodeStateDir)}, role: "exit", get() {}, find() {} };
      const instance = await plugin.create(plugin.options.parse({}), ctx);
      console.log(instance.provides.identity.peerId);
    `;
    const first = await runUnder(flags, probe);
    assert.equal(first.code, 0, first.stderr);
    const second = await runUnder(flags, probe);
    assert.equal(second.stdout, first.stdout, "the same peer id on the next run");
    assert.match(first.stdout.trim(), /^12D3KooW/);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});
