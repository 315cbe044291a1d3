/**
 * The Redis quota store against a real `redis-server` started by the test on a free loopback port
 * (apt `redis-server`; `.ci/run` installs it): the compliance suite with a reopen and a peer (a
 * second client, as a second proxy process), keys expiring after their period, a Redis that is
 * down refusing additions (the proxy keeps the bytes), refused credentials.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { quotaStoreCompliance } from "../../core/testing/compliance/quota_store.ts";
import { periodEndMs } from "../../core/domain/quota.ts";
import type { QuotaStore } from "../../core/ports/quota_store.ts";
import { type RedisProcess, startRedis } from "../../scripts/cluster.ts";
import { plugin, QuotaRedisOptions } from "./mod.ts";
import { QUOTA_REDIS_KEEP_AFTER_PERIOD_MS } from "./redis_quota_store.ts";

const proxyContext = {
  stateDir: ".",
  role: "proxy" as const,
  get: () => assert.fail("quota-redis requires nothing"),
  find: () => assert.fail("quota-redis wants nothing"),
};

/** A started store on `redis` under `prefix`, and its stop. */
async function openStore(redis: RedisProcess, prefix: string, options = {}) {
  const instance = await plugin.create(
    QuotaRedisOptions.parse({ url: redis.url, key_prefix: prefix, ...options }),
    proxyContext,
  );
  await instance.start?.();
  return {
    store: instance.provides["quota-store"] as QuotaStore,
    stop: async () => await instance.stop?.(),
  };
}

function freshPrefix(): string {
  return `test:${crypto.randomUUID().slice(0, 8)}:`;
}

Deno.test("the quota-redis plugin's store passes the quota store compliance suite", async (t) => {
  const redis = await startRedis();
  try {
    await quotaStoreCompliance(t, async () => {
      const prefix = freshPrefix();
      const opened = [await openStore(redis, prefix)];
      const another = async () => {
        const next = await openStore(redis, prefix);
        opened.push(next);
        return next.store;
      };
      return {
        store: opened[0]!.store,
        reopen: another,
        peer: another,
        cleanup: async () => {
          for (const { stop } of opened) await stop();
        },
      };
    });
  } finally {
    await redis.stop();
  }
});

Deno.test("quota-redis keys expire a week after their period ends", async () => {
  const redis = await startRedis();
  const { store, stop } = await openStore(redis, "p2proxy:quota:");
  const client = new Redis(redis.port, "127.0.0.1");
  try {
    await store.add([{ account: "1080/alice", period: "month:2026-12", bytes: 10 }]);
    const expiresAt = await client.pexpiretime("p2proxy:quota:month:2026-12:1080/alice");
    assert.equal(expiresAt, periodEndMs("month:2026-12")! + QUOTA_REDIS_KEEP_AFTER_PERIOD_MS);
    assert.equal(await client.get("p2proxy:quota:month:2026-12:1080/alice"), "10");
  } finally {
    client.disconnect();
    await stop();
    await redis.stop();
  }
});

Deno.test("quota-redis rejects additions while Redis is down, and counts again once it is back", async () => {
  const redis = await startRedis();
  const { store, stop } = await openStore(redis, freshPrefix());
  const count = { account: "1080/alice", period: "day:2026-12-07", bytes: 3 };
  try {
    assert.deepEqual(await store.add([count]), [3]);
    await redis.kill();
    await assert.rejects(store.add([count]));
    await redis.restart();
    const deadline = Date.now() + 15_000;
    let total: number[] | undefined;
    while (total === undefined) {
      total = await store.add([count]).catch(() => undefined);
      if (total === undefined) {
        assert.ok(Date.now() < deadline, "the store did not reconnect within 15 s");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    assert.deepEqual(total, [3], "the restarted Redis is empty: only this addition");
  } finally {
    await stop();
    await redis.stop();
  }
});

Deno.test("quota-redis refuses wrong credentials at start", async () => {
  const redis = await startRedis({ password: "right" });
  try {
    const url = redis.url.replace("redis://", "redis://:wrong@");
    await assert.rejects(openStore(redis, freshPrefix(), { url }), /refused the credentials/);
    const { store, stop } = await openStore(redis, freshPrefix(), {
      url: redis.url.replace("redis://", "redis://:right@"),
    });
    assert.deepEqual(
      await store.add([{ account: "1080/a", period: "day:2026-12-07", bytes: 1 }]),
      [1],
    );
    await stop();
  } finally {
    await redis.stop();
  }
});
