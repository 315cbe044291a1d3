import assert from "node:assert/strict";
import { ResolveError, type Resolver } from "../../ports/resolver.ts";
import { resolverCompliance } from "./resolver.ts";
import { recordingContext } from "./_recording_context.ts";

const KNOWN = { host: "dest.test", addresses: ["127.0.0.1", "::1"] } as const;
const UNKNOWN = "missing.test";

/** A map resolver that follows the contract; `hang` never answers until aborted. */
function honestResolver(hang = "hang.test"): Resolver {
  return {
    resolve(host, signal) {
      const timeout = () =>
        new ResolveError("timeout", host, `Gave up on "${host}".`, { cause: signal?.reason });
      if (signal?.aborted) return Promise.reject(timeout());
      const name = host.toLowerCase().replace(/\.$/, "");
      if (name === hang) {
        return new Promise((_, reject) =>
          signal?.addEventListener("abort", () => reject(timeout()), { once: true })
        );
      }
      if (name !== KNOWN.host) {
        return Promise.reject(new ResolveError("not-found", host, `No "${host}".`));
      }
      return Promise.resolve([...KNOWN.addresses]);
    },
  };
}

const fixture = (resolver: Resolver, hanging?: string) => ({
  resolver,
  known: KNOWN,
  unknown: UNKNOWN,
  ...(hanging ? { hanging } : {}),
});

Deno.test("an honest resolver passes the resolver compliance suite", (t) =>
  resolverCompliance(t, () => fixture(honestResolver(), "hang.test")));

Deno.test("without `hanging` the abort-while-waiting step is skipped, not failed", async () => {
  const recording = recordingContext();
  await resolverCompliance(recording.t, () => fixture(honestResolver()));
  assert.deepEqual(recording.failed(), []);
  assert.deepEqual(recording.ignored(), [
    "an abort while the lookup waits rejects with ResolveError timeout and leaves no timer",
  ]);
});

Deno.test("the resolver suite fails one that answers an unknown name", async () => {
  const recording = recordingContext();
  await resolverCompliance(
    recording.t,
    () => fixture({ resolve: (_host, signal) => honestResolver().resolve(KNOWN.host, signal) }),
  );
  assert.deepEqual(recording.failed(), [
    "an unknown name rejects with ResolveError not-found, naming the host",
  ]);
});

Deno.test("the resolver suite fails one whose errors are not ResolveErrors", async () => {
  const recording = recordingContext();
  const plainErrors: Resolver = {
    resolve: (host, signal) =>
      honestResolver().resolve(host, signal).catch((error) =>
        Promise.reject(new Error(error.message))
      ),
  };
  await resolverCompliance(recording.t, () => fixture(plainErrors));
  assert.deepEqual(recording.failed(), [
    "an unknown name rejects with ResolveError not-found, naming the host",
    "an already aborted signal rejects with ResolveError timeout, its reason as cause",
  ]);
});

Deno.test("the resolver suite fails one that ignores the signal", async () => {
  const recording = recordingContext();
  const deaf: Resolver = { resolve: (host) => honestResolver().resolve(host) };
  await resolverCompliance(recording.t, () => fixture(deaf));
  assert.deepEqual(recording.failed(), [
    "an already aborted signal rejects with ResolveError timeout, its reason as cause",
  ]);
});

Deno.test("the resolver suite fails one that shares its answer, or answers a non-address", async () => {
  const shared = [...KNOWN.addresses];
  const recording = recordingContext();
  await resolverCompliance(recording.t, () =>
    fixture({
      resolve: (host, signal) => honestResolver().resolve(host, signal).then(() => shared),
    }));
  assert.ok(
    recording.failed().includes(
      "repeated and concurrent lookups agree, and an answer is the caller's to change",
    ),
    recording.failed().join(),
  );

  const names = recordingContext();
  await resolverCompliance(names.t, () =>
    fixture({
      resolve: (host, signal) => honestResolver().resolve(host, signal).then(() => ["dest.test"]),
    }));
  assert.ok(
    names.failed().includes("a known name resolves to its addresses, in order"),
    names.failed().join(),
  );
});

Deno.test("the resolver suite fails a hanging lookup that ignores an abort mid-way", async () => {
  const recording = recordingContext();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stuck: Resolver = {
    resolve: (host, signal) =>
      host === "hang.test"
        ? new Promise((resolve) => {
          // Answers late and ignores the abort: the step must fail, not wait for it.
          timer = setTimeout(() => resolve(["127.0.0.1"]), 100);
        })
        : honestResolver().resolve(host, signal),
  };
  await resolverCompliance(recording.t, () => fixture(stuck, "hang.test"));
  clearTimeout(timer);
  assert.deepEqual(recording.failed(), [
    "an abort while the lookup waits rejects with ResolveError timeout and leaves no timer",
  ]);
});
