import assert from "node:assert/strict";
import fc from "fast-check";
import { LatestWriter } from "./latest_writer.ts";

/** A write that waits until the test opens its gate, recording what it wrote. */
function gatedWriter() {
  const written: number[] = [];
  const gates: (() => void)[] = [];
  const writer = new LatestWriter<number>(async (value) => {
    await new Promise<void>((resolve) => gates.push(resolve));
    written.push(value);
  }, (error) => assert.fail(`unexpected error ${error}`));
  /** Opens gates as writes arrive until none is waiting. */
  const releaseAll = async () => {
    do {
      await tick();
      gates.shift()?.();
      await tick();
    } while (gates.length > 0);
  };
  return { writer, written, gates, releaseAll };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("LatestWriter coalesces values queued before the first write starts", async () => {
  const { writer, written, releaseAll } = gatedWriter();
  const all = Array.from({ length: 50 }, (_, i) => writer.write(i));
  await releaseAll();
  await Promise.all(all);
  assert.deepEqual(written, [49]);
});

Deno.test("LatestWriter writes the running value, then only the newest queued one", async () => {
  const { writer, written, releaseAll } = gatedWriter();
  const first = writer.write(0);
  await tick();
  const rest = Array.from({ length: 49 }, (_, i) => writer.write(i + 1));
  await releaseAll();
  await Promise.all([first, ...rest]);
  assert.deepEqual(written, [0, 49]);
});

Deno.test("LatestWriter runs one write at a time", async () => {
  let running = 0;
  let most = 0;
  const writer = new LatestWriter<number>(async () => {
    running++;
    most = Math.max(most, running);
    await new Promise((resolve) => setTimeout(resolve, 1));
    running--;
  }, () => {});
  await Promise.all(Array.from({ length: 10 }, (_, i) => writer.write(i)));
  await writer.write(99);
  assert.equal(most, 1);
});

Deno.test("LatestWriter settles each caller only after its value or a newer one is written", async () => {
  const { writer, written, gates } = gatedWriter();
  const first = writer.write(1);
  await tick();
  const second = writer.write(2);
  const third = writer.write(3);
  assert.equal(third, second, "3 replaces 2 in the queue and shares its promise");
  let secondDone = false;
  void second.then(() => (secondDone = true));
  gates.shift()!();
  await first;
  assert.deepEqual(written, [1]);
  assert.equal(secondDone, false);
  await tick();
  gates.shift()!();
  await second;
  assert.deepEqual(written, [1, 3]);
});

Deno.test("LatestWriter reports a failing write and carries on", async () => {
  const errors: unknown[] = [];
  const written: string[] = [];
  const writer = new LatestWriter<string>((value) => {
    if (value === "bad") return Promise.reject(new Error("disk full"));
    written.push(value);
    return Promise.resolve();
  }, (error) => errors.push(error));
  await writer.write("bad");
  await writer.write("good");
  assert.equal(errors.length, 1);
  assert.deepEqual(written, ["good"]);
});

Deno.test("LatestWriter always ends with the last value written (property)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.integer(), fc.nat({ max: 3 })), { minLength: 1, maxLength: 30 }),
      async (plan) => {
        const written: number[] = [];
        const writer = new LatestWriter<number>(async (value) => {
          await Promise.resolve();
          written.push(value);
        }, () => {});
        const pending: Promise<void>[] = [];
        for (const [value, pauses] of plan) {
          pending.push(writer.write(value));
          for (let i = 0; i < pauses; i++) await Promise.resolve();
        }
        await Promise.all(pending);
        assert.equal(written.at(-1), plan.at(-1)![0]);
        await writer.idle();
      },
    ),
    { numRuns: 100 },
  );
});
