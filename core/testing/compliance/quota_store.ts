/**
 * Compliance suite of the `QuotaStore` port: any store, built-in or third-party, runs it against
 * itself (docs/limits.md#shared-quota).
 *
 * @example
 * ```ts
 * import { quotaStoreCompliance } from "@p2proxy/p2proxy/testing";
 *
 * Deno.test("my quota store", (t) =>
 *   quotaStoreCompliance(t, async () => {
 *     const prefix = crypto.randomUUID();
 *     const store = await MyQuotaStore.open(prefix);
 *     return {
 *       store,
 *       peer: () => MyQuotaStore.open(prefix), // as a second proxy process would
 *       cleanup: () => dropPrefix(prefix),
 *     };
 *   }));
 * ```
 *
 * @module
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { QuotaCount, QuotaStore } from "../../ports/quota_store.ts";
import { type Awaitable, type Releasable, withFixture } from "./_harness.ts";
import type { TestContext } from "./_test_context.ts";

/** What a quota store factory hands the suite; each call gives a store over fresh, empty storage. */
export interface QuotaStoreFixture extends Releasable {
  /** The store under test, over fresh, empty storage. */
  readonly store: QuotaStore;
  /**
   * A new store over the same storage, as after a restart. Omit it for a store that does not
   * persist; `cleanup` must also release reopened stores.
   */
  readonly reopen?: () => Promise<QuotaStore>;
  /**
   * Another store over the same storage while the first stays open, as a second proxy process
   * would open it. Omit it for a store one process owns; `cleanup` releases it too.
   */
  readonly peer?: () => Promise<QuotaStore>;
}

/** Additions fired at once in the concurrency step. */
const CONCURRENT_ADDS = 40;

/** Property runs of the opaque-names step. */
const NAME_RUNS = 15;

const MONTH = "month:2026-12";
const DAY = "day:2026-12-07";

/** One count of `bytes` for `account` in this suite's month. */
function countOf(account: string, bytes: number, period = MONTH): QuotaCount {
  return { account, period, bytes };
}

/**
 * Runs the `QuotaStore` compliance steps: an unknown account's total is 0; additions answer the
 * running total and 0 bytes only reads; accounts are kept apart and a new period starts from 0
 * (a store may keep only an account's latest period); concurrent additions
 * lose nothing; totals past 2^32 stay exact; account names are opaque; bad bytes are refused;
 * totals survive a reopen (when `reopen` is given) and are one total for several stores on one
 * storage (when `peer` is given).
 */
export async function quotaStoreCompliance(
  t: TestContext,
  make: () => Awaitable<QuotaStoreFixture>,
): Promise<void> {
  let persists = false;
  let shares = false;
  await t.step(
    "reads 0 for an account it never counted",
    () =>
      withFixture(make, async ({ store, reopen, peer }) => {
        persists = reopen !== undefined;
        shares = peer !== undefined;
        assert.deepStrictEqual(await store.add([countOf("1080/nobody", 0)]), [0]);
        assert.deepStrictEqual(await store.add([]), []);
      }),
  );

  await t.step(
    "answers the running total of its additions; 0 bytes only reads",
    () =>
      withFixture(make, async ({ store }) => {
        assert.deepStrictEqual(await store.add([countOf("1080/alice", 100)]), [100]);
        assert.deepStrictEqual(await store.add([countOf("1080/alice", 250)]), [350]);
        assert.deepStrictEqual(await store.add([countOf("1080/alice", 0)]), [350]);
      }),
  );

  await t.step(
    "keeps accounts apart, answering in the order asked",
    () =>
      withFixture(make, async ({ store }) => {
        await store.add([countOf("1080/alice", 10), countOf("1081/alice", 20)]);
        await store.add([countOf("1080/carol", 5, DAY)]);
        const totals = await store.add([
          countOf("1081/alice", 0),
          countOf("1080/carol", 1, DAY),
          countOf("1080/bob", 0),
          countOf("1080/alice", 0),
        ]);
        assert.deepStrictEqual(totals, [20, 6, 0, 10]);
      }),
  );

  await t.step(
    "starts a new period of an account from 0",
    () =>
      withFixture(make, async ({ store }) => {
        await store.add([countOf("1080/alice", 10, "day:2026-12-07")]);
        assert.deepStrictEqual(await store.add([countOf("1080/alice", 3, "day:2026-12-08")]), [3]);
        assert.deepStrictEqual(await store.add([countOf("1080/alice", 0, "day:2026-12-08")]), [3]);
      }),
  );

  await t.step(
    "loses nothing to concurrent additions",
    () =>
      withFixture(make, async ({ store, peer }) => {
        const other = peer ? await peer() : store;
        const adds = Array.from(
          { length: CONCURRENT_ADDS },
          (_, i) => (i % 2 === 0 ? store : other).add([countOf("1080/alice", i + 1)]),
        );
        const answers = (await Promise.all(adds)).map(([total]) => total!);
        const expected = (CONCURRENT_ADDS * (CONCURRENT_ADDS + 1)) / 2;
        assert.deepStrictEqual(await store.add([countOf("1080/alice", 0)]), [expected]);
        // Each answer holds its own addition; the last answer read after every addition.
        assert.ok(
          answers.every((total, i) => total >= i + 1 && total <= expected),
          `answers: ${answers.join(", ")}`,
        );
        assert.equal(Math.max(...answers), expected);
      }),
  );

  await t.step("keeps totals past 2^32 exact", () =>
    withFixture(make, async ({ store }) => {
      const big = 2 ** 40 + 1;
      await store.add([countOf("1080/alice", big)]);
      await store.add([countOf("1080/alice", big)]);
      assert.deepStrictEqual(await store.add([countOf("1080/alice", big)]), [3 * big]);
    }));

  await t.step("treats account names as opaque", () =>
    withFixture(make, async ({ store }) => {
      const odd = [
        "1080/a:b",
        "1080/a",
        "1080/__proto__",
        "1080/ünï 🎉",
        `1080/${"x".repeat(255)}`,
      ];
      const totals = await store.add(odd.map((account, i) => countOf(account, i + 1)));
      assert.deepStrictEqual(totals, [1, 2, 3, 4, 5]);
      await fc.assert(
        fc.asyncProperty(
          fc.uniqueArray(fc.string({ minLength: 1, maxLength: 40, unit: "grapheme" }), {
            minLength: 1,
            maxLength: 8,
          }),
          async (names) => {
            const period = `day:2026-12-${String(10 + (names.length % 10)).padStart(2, "0")}`;
            const scope = crypto.randomUUID().slice(0, 8);
            const counts = names.map((name, i) => countOf(`${scope}/${name}`, i + 7, period));
            await store.add(counts);
            const read = await store.add(counts.map((count) => ({ ...count, bytes: 0 })));
            assert.deepStrictEqual(read, counts.map((count) => count.bytes));
          },
        ),
        { numRuns: NAME_RUNS },
      );
    }));

  await t.step(
    "refuses bytes that are not a whole number ≥ 0",
    () =>
      withFixture(make, async ({ store }) => {
        for (const bytes of [-1, 1.5, Number.NaN, 2 ** 53]) {
          await assert.rejects(
            async () => await store.add([countOf("1080/alice", bytes)]),
            RangeError,
            `bytes ${bytes}`,
          );
        }
        assert.deepStrictEqual(await store.add([countOf("1080/alice", 0)]), [0]);
      }),
  );

  await t.step({
    name: "keeps its totals across a reopen",
    ignore: !persists,
    fn: () =>
      withFixture(make, async ({ store, reopen }) => {
        assert.ok(reopen, "the fixture stopped offering reopen()");
        await store.add([countOf("1080/alice", 1234), countOf("1080/bob", 1, DAY)]);
        const reopened = await reopen();
        assert.deepStrictEqual(
          await reopened.add([countOf("1080/alice", 0), countOf("1080/bob", 1, DAY)]),
          [1234, 2],
        );
      }),
  });

  await t.step({
    name: "is one total for several stores on one storage",
    ignore: !shares,
    fn: () =>
      withFixture(make, async ({ store, peer }) => {
        assert.ok(peer, "the fixture stopped offering peer()");
        const other = await peer();
        await store.add([countOf("1080/alice", 3_000_000)]);
        assert.deepStrictEqual(await other.add([countOf("1080/alice", 2_500_000)]), [5_500_000]);
        assert.deepStrictEqual(await store.add([countOf("1080/alice", 0)]), [5_500_000]);
      }),
  });
}
