/**
 * The Redis registry against a real `redis-server` started by each test on a
 * free loopback port (apt `redis-server`; `.ci/run` installs it): the
 * compliance suite, the mirror following another hub's writes, an outage
 * (served from the mirror, nothing lost), a restarted empty Redis,
 * passwords, TLS and bad options.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import {
  registryStoreCompliance,
  sampleRegistration,
} from "../../core/testing/compliance/registry_store.ts";
import type { ExitRegistration, RegistryStore } from "../../core/ports/registry_store.ts";
import { type RedisProcess, startRedis } from "../../scripts/cluster.ts";
import { plugin, RegistryRedisOptions, registryRedisPermissions } from "./mod.ts";
import { parseRedisUrl } from "./redis_target.ts";
import type { RedisRegistryStore } from "./redis_registry_store.ts";
import { PUT_SCRIPT } from "./redis_scripts.ts";

const TLS_CERT = new URL("../../auth-service/testdata/localhost.crt", import.meta.url).pathname;
const TLS_KEY = new URL("../../auth-service/testdata/localhost.key", import.meta.url).pathname;

/** Bound on a condition that follows a Redis event (reconnects back off to at most 5 s). */
const WAIT_MS = 15_000;

const hubContext = {
  stateDir: ".",
  role: "hub" as const,
  get: () => assert.fail("registry-redis requires nothing"),
  find: () => assert.fail("registry-redis wants nothing"),
};

/** A started store over `redis` under a fresh key prefix. */
async function openStore(
  redis: RedisProcess,
  options: Record<string, unknown> = {},
): Promise<{ store: RedisRegistryStore; stop: () => Promise<void> }> {
  const parsed = RegistryRedisOptions.parse({ url: redis.url, ...options });
  const instance = await plugin.create(parsed, hubContext);
  await instance.start?.();
  return {
    store: instance.provides["registry-store"] as RedisRegistryStore,
    stop: async () => await instance.stop?.(),
  };
}

function freshPrefix(): string {
  return `test:${crypto.randomUUID().slice(0, 8)}:`;
}

async function waitFor(what: string, probe: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await probe())) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${WAIT_MS} ms waiting for ${what}.`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A registration that expires `ms` from now. */
function liveRegistration(n: number, ms = 90_000, extra: Partial<ExitRegistration> = {}) {
  const now = Date.now();
  return sampleRegistration(n, {
    registeredAt: now,
    lastSeenAt: now,
    expiresAt: now + ms,
    ...extra,
  });
}

Deno.test("the registry-redis plugin's store passes the registry store compliance suite", async (t) => {
  const redis = await startRedis();
  try {
    await registryStoreCompliance(t, async () => {
      const key_prefix = freshPrefix();
      const opened = [await openStore(redis, { key_prefix })];
      return {
        store: opened[0]!.store,
        reopen: async () => {
          const other = await openStore(redis, { key_prefix });
          opened.push(other);
          return other.store;
        },
        cleanup: async () => {
          for (const { stop } of opened) await stop();
        },
      };
    });
  } finally {
    await redis.stop();
  }
});

Deno.test("registry-redis: records live in Redis with a TTL, and a second hub's mirror follows", async () => {
  const redis = await startRedis();
  const key_prefix = freshPrefix();
  const a = await openStore(redis, { key_prefix });
  const b = await openStore(redis, { key_prefix });
  const raw = new Redis(redis.port, "127.0.0.1");
  try {
    const nl = liveRegistration(1, 30_000);
    const de = liveRegistration(2, 30_000, {
      attributes: { ...nl.attributes, country: "DE", asn: 3320 },
    });
    await a.store.put(nl);
    await a.store.put(de);
    // Redis forgets the record by itself: its TTL is the expiry plus the grace period.
    const ttl = await raw.pttl(`${key_prefix}rec:${nl.peerId}`);
    assert.ok(ttl > 30_000 && ttl <= 30_000 + 60_000, `TTL ${ttl} ms`);
    // B found both through the change channel: find reads its mirror, by country and ASN.
    await waitFor("hub B's mirror to hold both", async () => (await b.store.find({})).length === 2);
    assert.deepEqual((await b.store.find({ country: "DE" })).map((r) => r.peerId), [de.peerId]);
    assert.deepEqual((await b.store.find({ asn: 3320 })).map((r) => r.peerId), [de.peerId]);
    // A record moving to another country moves in B's index too.
    const moved = {
      ...de,
      lastSeenAt: de.lastSeenAt + 1,
      attributes: { ...de.attributes, country: "FR" },
    };
    await a.store.put(moved);
    await waitFor(
      "the move to reach B",
      async () => (await b.store.find({ country: "FR" })).length === 1,
    );
    assert.deepEqual(await b.store.find({ country: "DE" }), []);
    await a.store.remove(nl.peerId);
    await waitFor(
      "the removal to reach B",
      async () => (await b.store.find({ country: "NL" })).length === 0,
    );
    // A key that expired in Redis (as with no hub left to renew) is gone from the lists.
    await raw.del(`${key_prefix}rec:${moved.peerId}`);
    assert.deepEqual(await b.store.list(), []);
  } finally {
    raw.disconnect();
    await a.stop();
    await b.stop();
    await redis.stop();
  }
});

Deno.test("registry-redis: Redis down — the mirror serves, one warning, nothing lost once it is back", async () => {
  const redis = await startRedis();
  const key_prefix = freshPrefix();
  const hub = await openStore(redis, { key_prefix });
  const other = await openStore(redis, { key_prefix });
  const logged: string[] = [];
  const { configure, reset } = await import("@logtape/logtape");
  await configure({
    sinks: { memory: (record) => logged.push(record.message.join("")) },
    loggers: [
      { category: ["p2proxy", "registry-redis"], lowestLevel: "info", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "fatal", sinks: [] },
    ],
    reset: true,
  });
  try {
    const before = liveRegistration(1);
    await hub.store.put(before);
    await waitFor("the other hub to see it", async () => (await other.store.find({})).length === 1);

    await redis.kill();
    await waitFor("the hub to notice", () => !hub.store.connected);
    // Reads come from the mirror; a registration made now is accepted and kept.
    assert.deepEqual(await hub.store.get(before.peerId), before);
    const during = liveRegistration(2);
    await hub.store.put(during);
    assert.deepEqual(
      (await hub.store.find({})).map((r) => r.peerId).sort(),
      [
        before.peerId,
        during.peerId,
      ].sort(),
    );
    assert.deepEqual((await hub.store.list()).length, 2);
    const warnings = () => logged.filter((line) => line.startsWith("Lost the Redis registry"));
    // ioredis keeps retrying (with backoff) while this waits: still one warning per hub.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.equal(warnings().length, 2, logged.join("\n"));

    // Redis comes back empty (a restart without persistence): both records are written back.
    await redis.restart();
    await waitFor("the hub to reconnect", () => hub.store.connected);
    await waitFor("the other hub to reconnect", () => other.store.connected);
    await waitFor(
      "both registrations in Redis again",
      async () => (await other.store.list()).length === 2,
    );
    assert.deepEqual(await other.store.get(during.peerId), during);
    assert.ok(
      logged.some((line) => /answers again after .* wrote back 2 registrations/.test(line)),
      logged.join("\n"),
    );
    assert.equal(warnings().length, 2);
  } finally {
    await reset();
    await hub.stop();
    await other.stop();
    await redis.stop();
  }
});

Deno.test("registry-redis: a write-back after an outage never overwrites a fresher record", async () => {
  const redis = await startRedis();
  const prefix = freshPrefix();
  const raw = new Redis(redis.port, "127.0.0.1");
  try {
    const put = (record: ExitRegistration, keepNewer: boolean) =>
      raw.eval(
        PUT_SCRIPT,
        0,
        prefix,
        record.peerId,
        JSON.stringify(record),
        "60000",
        String(record.lastSeenAt),
        keepNewer ? "1" : "0",
        String(Date.now()),
        "{}",
      );
    const older = liveRegistration(1);
    const newer = { ...older, lastSeenAt: older.lastSeenAt + 5_000 };
    assert.equal(await put(newer, false), 1);
    // What a hub coming back writes (keepNewer) loses against the fresher heartbeat...
    assert.equal(await put(older, true), 0);
    assert.deepEqual(JSON.parse((await raw.get(`${prefix}rec:${older.peerId}`))!), newer);
    // ...while an ordinary put (a heartbeat) always replaces.
    assert.equal(await put(older, false), 1);
    assert.equal(await raw.zcard(`${prefix}all`), 1);
  } finally {
    raw.disconnect();
    await redis.stop();
  }
});

Deno.test("registry-redis: a password from the URL or from password_env; a wrong one stops the hub", async () => {
  const password = "s3cret-" + crypto.randomUUID().slice(0, 6);
  const redis = await startRedis({ password });
  const variable = "P2PROXY_TEST_REDIS_PASSWORD";
  try {
    const inUrl = await openStore(redis, {
      url: redis.url.replace("redis://", `redis://:${password}@`),
      key_prefix: freshPrefix(),
    });
    await inUrl.store.put(liveRegistration(1));
    assert.equal((await inUrl.store.list()).length, 1);
    await inUrl.stop();

    Deno.env.set(variable, password);
    const fromEnv = await openStore(redis, { password_env: variable, key_prefix: freshPrefix() });
    assert.ok(fromEnv.store.connected);
    await fromEnv.stop();

    Deno.env.set(variable, "wrong");
    await assert.rejects(
      openStore(redis, { password_env: variable }),
      (error: Error & { code?: string }) =>
        error.code === "auth-failed" && /refused the credentials/.test(error.message) &&
        !error.message.includes("wrong"),
    );
    Deno.env.delete(variable);
    await assert.rejects(
      Promise.resolve().then(() =>
        plugin.create(RegistryRedisOptions.parse({ password_env: variable }), hubContext)
      ),
      /password_env names P2PROXY_TEST_REDIS_PASSWORD, which is not set/,
    );
  } finally {
    Deno.env.delete(variable);
    await redis.stop();
  }
});

Deno.test("registry-redis: rediss:// with a CA file", async () => {
  const redis = await startRedis({ tls: { certFile: TLS_CERT, keyFile: TLS_KEY } });
  try {
    const opened = await openStore(redis, { tls_ca_file: TLS_CERT, key_prefix: freshPrefix() });
    try {
      assert.ok(redis.url.startsWith("rediss://"));
      await opened.store.put(liveRegistration(3));
      assert.equal((await opened.store.list()).length, 1);
    } finally {
      await opened.stop();
    }
  } finally {
    await redis.stop();
  }
});

Deno.test("registry-redis: an unreachable Redis at start is retried in the background", async () => {
  const redis = await startRedis();
  const port = redis.port;
  await redis.stop();
  const parsed = RegistryRedisOptions.parse({
    url: `redis://127.0.0.1:${port}/0`,
    connect_timeout_secs: 0.5,
    key_prefix: freshPrefix(),
  });
  const instance = await plugin.create(parsed, hubContext);
  const store: RegistryStore & { connected?: boolean } = instance.provides["registry-store"];
  let restarted: RedisProcess | undefined;
  try {
    await instance.start?.();
    const kept = liveRegistration(4);
    await store.put(kept);
    restarted = await startRedis({ port });
    await waitFor("the store to connect", () => store.connected === true);
    const raw = new Redis(port, "127.0.0.1");
    try {
      await waitFor(
        "the registration written to Redis",
        async () => (await raw.exists(`${parsed.key_prefix}rec:${kept.peerId}`)) === 1,
      );
    } finally {
      raw.disconnect();
    }
  } finally {
    await instance.stop?.();
    await restarted?.stop();
  }
});

Deno.test("registry-redis options and permissions", () => {
  const parse = (options: Record<string, unknown>) => RegistryRedisOptions.safeParse(options);
  assert.equal(parse({}).success, true);
  for (
    const url of [
      "http://127.0.0.1:6379",
      "redis://",
      "redis://host:6379/16",
      "redis://host/abc",
      "redis://host?db=1",
    ]
  ) assert.equal(parse({ url }).success, false, url);
  assert.equal(parse({ password_env: "not a name" }).success, false);
  assert.equal(parse({ key_prefix: "has space" }).success, false);
  assert.equal(parse({ unknown: 1 }).success, false);

  assert.deepEqual(
    registryRedisPermissions(RegistryRedisOptions.parse({ url: "redis://10.0.0.5/2" })),
    { net: ["10.0.0.5:6379"], env: ["*"] },
  );
  assert.deepEqual(
    registryRedisPermissions(
      RegistryRedisOptions.parse({ url: "rediss://[::1]:6380", tls_ca_file: "/etc/ca.pem" }),
    ),
    { net: ["[::1]:6380"], env: ["*"], read: ["/etc/ca.pem"] },
  );
  const target = parseRedisUrl("rediss://user:p%40ss@redis.internal:6380/3");
  assert.deepEqual(
    { ...target },
    {
      host: "redis.internal",
      port: 6380,
      db: 3,
      tls: true,
      username: "user",
      password: "p@ss",
      display: "rediss://user@redis.internal:6380/3",
    },
  );
  assert.throws(
    () => parseRedisUrl("redis://:hunter2@host/99"),
    (error: Error) =>
      /"redis:\/\/:\*\*\*@host\/99"/.test(error.message) &&
      !error.message.includes("hunter2"),
  );
});

Deno.test("registry-redis: a resync keeps a record whose expiry lies in the past (the hub sweeps, not the mirror)", async () => {
  const { RedisRegistryStore } = await import("./redis_registry_store.ts");
  const redis = await startRedis();
  const store = new RedisRegistryStore({
    target: parseRedisUrl(redis.url),
    keyPrefix: freshPrefix(),
    connectTimeoutMs: 5_000,
    resyncIntervalMs: 50,
  });
  try {
    await store.start();
    // Expired by this machine's clock (the compliance suite's fake time): kept until the caller removes it.
    const old = sampleRegistration(1);
    await store.put(old);
    const resynced = Date.now();
    await waitFor("a few resyncs", () => Date.now() - resynced > 300);
    assert.deepStrictEqual(await store.find({}), [old]);
    assert.deepStrictEqual(await store.list(), [old]);
  } finally {
    await store.close();
    await redis.stop();
  }
});
