import { deepEqual, equal, rejects } from "node:assert/strict";
import { SingleFlight } from "./single_flight.ts";

function deferred<T>(): {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: Error) => void;
} {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

Deno.test("SingleFlight", async (t) => {
  await t.step("concurrent callers for one key share one run", async () => {
    const flights = new SingleFlight<number, string>();
    const gate = deferred<string>();
    let runs = 0;
    const work = () => {
      runs++;
      return gate.promise;
    };
    const waiters = Array.from({ length: 5 }, () => flights.run(1080, work));
    equal(flights.has(1080), true);
    gate.resolve("exit");
    deepEqual(await Promise.all(waiters), Array(5).fill("exit"));
    equal(runs, 1);
    equal(flights.has(1080), false);
  });

  await t.step("different keys run separately", async () => {
    const flights = new SingleFlight<number, number>();
    let runs = 0;
    const [a, b] = await Promise.all([
      flights.run(1, () => Promise.resolve(++runs)),
      flights.run(2, () => Promise.resolve(++runs)),
    ]);
    equal(runs, 2);
    deepEqual(new Set([a, b]), new Set([1, 2]));
  });

  await t.step("a settled run is not cached: the next call starts fresh work", async () => {
    const flights = new SingleFlight<string, number>();
    let runs = 0;
    equal(await flights.run("k", () => Promise.resolve(++runs)), 1);
    equal(await flights.run("k", () => Promise.resolve(++runs)), 2);
    equal(flights.size, 0);
  });

  await t.step("a failure reaches every waiter and frees the key", async () => {
    const flights = new SingleFlight<number, string>();
    const gate = deferred<string>();
    const waiters = [flights.run(1, () => gate.promise), flights.run(1, () => gate.promise)];
    gate.reject(new Error("no exit"));
    for (const waiter of waiters) await rejects(waiter, /no exit/);
    equal(flights.has(1), false);
  });

  await t.step("a synchronous throw becomes a rejection", async () => {
    const flights = new SingleFlight<number, string>();
    await rejects(
      flights.run(1, () => {
        throw new Error("boom");
      }),
      /boom/,
    );
    equal(flights.has(1), false);
  });

  await t.step("a waiter's signal detaches only that waiter", async () => {
    const flights = new SingleFlight<number, string>();
    const gate = deferred<string>();
    const impatient = new AbortController();
    const leaving = flights.run(1, () => gate.promise, impatient.signal);
    const staying = flights.run(1, () => gate.promise);
    impatient.abort(new Error("waited too long"));
    await rejects(leaving, /waited too long/);
    equal(flights.has(1), true);
    gate.resolve("exit");
    equal(await staying, "exit");
  });

  await t.step("an already aborted signal rejects at once", async () => {
    const flights = new SingleFlight<number, string>();
    const controller = new AbortController();
    controller.abort(new Error("gone"));
    await rejects(flights.run(1, () => Promise.resolve("exit"), controller.signal), /gone/);
  });
});
