import assert from "node:assert/strict";
import {
  emptyStickyRecord,
  emptyStickySessionsRecord,
  type StickyRecord,
  type StickyStore,
} from "../../ports/sticky_store.ts";
import { MemoryStickyStore } from "../fakes.ts";
import { sampleRecord, stickyStoreCompliance } from "./sticky_store.ts";
import { recordingContext } from "./_recording_context.ts";

/** A store over a shared "disk" so that reopen sees what was saved. */
function persistentMemoryFixture() {
  const disk = { record: emptyStickyRecord(), sessions: emptyStickySessionsRecord() };
  const open = (): StickyStore => ({
    load: () => Promise.resolve(structuredClone(disk.record)),
    save: (record) => {
      disk.record = structuredClone(record);
      return Promise.resolve();
    },
    loadSessions: () => Promise.resolve(structuredClone(disk.sessions)),
    saveSessions: (sessions) => {
      disk.sessions = structuredClone(sessions);
      return Promise.resolve();
    },
  });
  return { store: open(), reopen: () => Promise.resolve(open()) };
}

Deno.test("MemoryStickyStore passes the sticky store compliance suite", (t) =>
  stickyStoreCompliance(t, () => ({ store: new MemoryStickyStore() })));

Deno.test("a persistent store runs the reopen step", async (t) => {
  await stickyStoreCompliance(t, persistentMemoryFixture);
  const recording = recordingContext();
  await stickyStoreCompliance(recording.t, persistentMemoryFixture);
  assert.deepEqual(recording.failed(), []);
  assert.deepEqual(recording.ignored(), []);
});

Deno.test("a store without reopen or sessions skips the reopen and session steps", async () => {
  const recording = recordingContext();
  await stickyStoreCompliance(recording.t, () => ({ store: new MemoryStickyStore() }));
  assert.deepEqual(recording.ignored()[0], "keeps its record across a reopen");
  assert.ok(recording.ignored().length > 1);
  assert.ok(recording.ignored().slice(1).every((name) => name.startsWith("sessions: ")));
  assert.deepEqual(recording.failed(), []);
});

Deno.test("the sticky suite fails a store with only one of the session methods", async () => {
  const recording = recordingContext();
  await stickyStoreCompliance(recording.t, () => {
    const inner = new MemoryStickyStore();
    const store: StickyStore = {
      load: () => inner.load(),
      save: (record) => inner.save(record),
      loadSessions: () => Promise.resolve(emptyStickySessionsRecord()),
    };
    return { store };
  });
  assert.deepEqual(recording.failed(), ["offers both session methods or neither"]);
});

Deno.test("the sticky suite fails a store that forgets sessions across a reopen", async () => {
  const recording = recordingContext();
  const fixture = () => {
    const { store } = persistentMemoryFixture();
    return { store, reopen: () => Promise.resolve(persistentMemoryFixture().store) };
  };
  await stickyStoreCompliance(recording.t, fixture);
  assert.ok(recording.failed().includes("sessions: keeps its sessions across a reopen"));
});

Deno.test("the sticky suite fails a store that aliases records", async () => {
  const recording = recordingContext();
  await stickyStoreCompliance(recording.t, () => {
    let held: StickyRecord = emptyStickyRecord();
    const store: StickyStore = {
      load: () => Promise.resolve(held),
      save: (record) => {
        held = record;
        return Promise.resolve();
      },
    };
    return { store };
  });
  assert.deepEqual(recording.failed(), ["never aliases saved or loaded records to its state"]);
});

Deno.test("the sticky suite fails a store where the first concurrent save wins", async () => {
  const recording = recordingContext();
  await stickyStoreCompliance(recording.t, () => {
    let held: StickyRecord = emptyStickyRecord();
    let pending = 0;
    const store: StickyStore = {
      load: () => Promise.resolve(structuredClone(held)),
      save: async (record) => {
        const copy = structuredClone(record);
        const first = pending++ === 0;
        await Promise.resolve();
        if (first) held = copy;
        pending--;
      },
    };
    return { store };
  });
  assert.ok(recording.failed().some((name) => name.includes("concurrent saves wins")));
});

Deno.test("the sticky suite fails a store that forgets across a reopen", async () => {
  const recording = recordingContext();
  await stickyStoreCompliance(recording.t, () => ({
    store: new MemoryStickyStore(),
    reopen: () => Promise.resolve(new MemoryStickyStore()),
  }));
  assert.deepEqual(recording.failed(), ["keeps its record across a reopen"]);
});

Deno.test("the sticky suite fails a store that drops peers of large pools", async () => {
  const recording = recordingContext();
  await stickyStoreCompliance(recording.t, () => {
    const inner = new MemoryStickyStore();
    const store: StickyStore = {
      load: () => inner.load(),
      save: (record) => {
        const servers = Object.fromEntries(
          Object.entries(record.servers).map(([port, s]) => [port, {
            ...s,
            peers: s.peers.slice(0, 10),
          }]),
        );
        return inner.save({ ...record, servers });
      },
    };
    return { store };
  });
  assert.ok(recording.failed().some((name) => name.startsWith("holds large pools")));
});

Deno.test("sampleRecord is deterministic and varies with its seed", () => {
  assert.deepStrictEqual(sampleRecord(2, 5), sampleRecord(2, 5));
  assert.notDeepStrictEqual(sampleRecord(2, 5), sampleRecord(2, 6));
  assert.equal(Object.keys(sampleRecord(20, 0, 30).servers).length, 20);
});
