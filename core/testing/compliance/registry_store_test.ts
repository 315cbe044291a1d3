import assert from "node:assert/strict";
import type { PeerId } from "../../ids.ts";
import type { ExitRegistration, RegistryStore } from "../../ports/registry_store.ts";
import { registryStoreCompliance } from "./registry_store.ts";
import { recordingContext } from "./_recording_context.ts";

/** A store over a shared "disk" map; `alias` keeps the caller's objects instead of copies. */
function mapStore(disk: Map<PeerId, ExitRegistration>, alias = false): RegistryStore {
  const copy = <T>(value: T): T => alias ? value : structuredClone(value);
  return {
    put: (r) => Promise.resolve(void disk.set(r.peerId, copy(r))),
    get: (peer) => Promise.resolve(disk.has(peer) ? copy(disk.get(peer)) : undefined),
    list: () => Promise.resolve([...disk.values()].map(copy)),
    find: (query) =>
      Promise.resolve(
        [...disk.values()]
          .filter((r) =>
            (query.country === undefined || r.attributes.country === query.country) &&
            (query.asn === undefined || r.attributes.asn === query.asn)
          )
          .map(copy),
      ),
    remove: (peer) => Promise.resolve(disk.delete(peer)),
  };
}

Deno.test("a shared map store passes the registry suite, reopen step included", async (t) => {
  const fixture = () => {
    const disk = new Map<PeerId, ExitRegistration>();
    return { store: mapStore(disk), reopen: () => Promise.resolve(mapStore(disk)) };
  };
  await registryStoreCompliance(t, fixture);
  const recording = recordingContext();
  await registryStoreCompliance(recording.t, fixture);
  assert.deepEqual(recording.failed(), []);
  assert.deepEqual(recording.ignored(), []);
});

Deno.test("the registry suite fails a store that aliases records", async () => {
  const recording = recordingContext();
  await registryStoreCompliance(recording.t, () => ({ store: mapStore(new Map(), true) }));
  assert.deepEqual(recording.failed(), [
    "never aliases put or returned records to its state",
    "find returns every record of the country and ASN asked for, as copies",
  ]);
  assert.deepEqual(recording.ignored(), [
    "a second handle over the same storage sees the first one's writes",
  ]);
});

Deno.test("the registry suite fails a find that misses records, and skips find when absent", async () => {
  const missing = recordingContext();
  await registryStoreCompliance(missing.t, () => {
    const inner = mapStore(new Map());
    return { store: { ...inner, find: () => Promise.resolve([]) } };
  });
  assert.deepEqual(missing.failed(), [
    "find returns every record of the country and ASN asked for, as copies",
  ]);
  const absent = recordingContext();
  await registryStoreCompliance(absent.t, () => {
    const { find: _find, ...withoutFind } = mapStore(new Map());
    return { store: withoutFind };
  });
  assert.deepEqual(absent.failed(), []);
  assert.ok(
    absent.ignored().includes(
      "find returns every record of the country and ASN asked for, as copies",
    ),
  );
});

Deno.test("the registry suite fails a store that drops expired records or lies on remove", async () => {
  const recording = recordingContext();
  await registryStoreCompliance(recording.t, () => {
    const inner = mapStore(new Map());
    return {
      store: {
        ...inner,
        put: (r) => r.expiresAt < 1e12 ? Promise.resolve() : inner.put(r),
        remove: async (peer) => {
          await inner.remove(peer);
          return true;
        },
      },
    };
  });
  const failed = recording.failed();
  assert.ok(
    failed.includes("keeps expired records: expiry is the caller's decision"),
    failed.join(),
  );
  assert.ok(failed.includes("is empty at first"), failed.join());
});
