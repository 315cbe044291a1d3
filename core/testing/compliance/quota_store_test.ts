import assert from "node:assert/strict";
import type { QuotaCount, QuotaStore } from "../../ports/quota_store.ts";
import { quotaStoreCompliance } from "./quota_store.ts";
import { recordingContext } from "./_recording_context.ts";

/** A correct in-memory store over `totals` (shared, so `peer` and `reopen` see one storage). */
function memoryStore(totals = new Map<string, number>()): QuotaStore {
  return {
    add: (counts: readonly QuotaCount[]) => {
      for (const { bytes } of counts) {
        if (!Number.isSafeInteger(bytes) || bytes < 0) {
          return Promise.reject(new RangeError(`bad bytes ${bytes}`));
        }
      }
      return Promise.resolve(counts.map(({ account, period, bytes }) => {
        const key = JSON.stringify([account, period]);
        const total = (totals.get(key) ?? 0) + bytes;
        totals.set(key, total);
        return total;
      }));
    },
  };
}

function sharedFixture() {
  const totals = new Map<string, number>();
  return {
    store: memoryStore(totals),
    reopen: () => Promise.resolve(memoryStore(totals)),
    peer: () => Promise.resolve(memoryStore(totals)),
  };
}

Deno.test("a correct store passes every step of the quota store suite", async () => {
  const recording = recordingContext();
  await quotaStoreCompliance(recording.t, sharedFixture);
  assert.deepEqual(recording.failed(), []);
  assert.deepEqual(recording.ignored(), []);
});

Deno.test("a store without reopen or peer skips those steps", async () => {
  const recording = recordingContext();
  await quotaStoreCompliance(recording.t, () => ({ store: memoryStore() }));
  assert.deepEqual(recording.failed(), []);
  assert.deepEqual(recording.ignored(), [
    "keeps its totals across a reopen",
    "is one total for several stores on one storage",
  ]);
});

Deno.test("the quota suite fails a store that reads, waits, then writes (lost additions)", async () => {
  const recording = recordingContext();
  await quotaStoreCompliance(recording.t, () => {
    const totals = new Map<string, number>();
    const store: QuotaStore = {
      add: async (counts) => {
        const before = counts.map(({ account, period }) => totals.get(`${account} ${period}`) ?? 0);
        await new Promise((resolve) => setTimeout(resolve, 0));
        return counts.map(({ account, period, bytes }, i) => {
          totals.set(`${account} ${period}`, before[i]! + bytes);
          return before[i]! + bytes;
        });
      },
    };
    return { store };
  });
  assert.ok(recording.failed().includes("loses nothing to concurrent additions"));
});

Deno.test("the quota suite fails a store that keys by account only (periods mixed)", async () => {
  const recording = recordingContext();
  await quotaStoreCompliance(recording.t, () => {
    const inner = memoryStore();
    return { store: { add: (counts) => inner.add(counts.map((c) => ({ ...c, period: "x" }))) } };
  });
  assert.ok(
    recording.failed().includes("starts a new period of an account from 0"),
  );
});

Deno.test("the quota suite fails a store whose peers count apart", async () => {
  const recording = recordingContext();
  await quotaStoreCompliance(recording.t, () => ({
    store: memoryStore(),
    peer: () => Promise.resolve(memoryStore()),
  }));
  assert.ok(recording.failed().includes("is one total for several stores on one storage"));
});
