import assert from "node:assert/strict";
import fc from "fast-check";
import { OTHER_LABEL_VALUE } from "./constants.ts";
import { TOP_LABELS_RERANK_MS, TopLabels } from "./top_labels.ts";

/** Labels on a fake clock, with counters kept as the sink keeps them (series removed on drop). */
function harness(named: number) {
  let now = 0;
  const series = new Map<string, number>();
  const dropped: string[] = [];
  let droppedBytes = 0;
  const labels = new TopLabels({
    named,
    now: () => now,
    onDropped: (name) => {
      dropped.push(name);
      droppedBytes += series.get(name) ?? 0;
      series.delete(name);
    },
  });
  return {
    labels,
    series,
    dropped,
    droppedBytes: () => droppedBytes,
    advance: (ms: number) => now += ms,
    count: (account: string, bytes: number) => {
      const label = labels.value(account, bytes);
      series.set(label, (series.get(label) ?? 0) + bytes);
      return label;
    },
  };
}

Deno.test("top labels: the first accounts are named at once; past the cap they are summed as other", () => {
  const h = harness(3);
  assert.deepEqual(["a", "b", "c", "d"].map((name) => h.count(name, 10)), [
    "a",
    "b",
    "c",
    OTHER_LABEL_VALUE,
  ]);
  assert.equal(h.count("a", 5), "a");
  assert.equal(h.count("", 5), OTHER_LABEL_VALUE, "no name to give");
  assert.equal(h.count("x".repeat(49), 5), OTHER_LABEL_VALUE, "too long for a label value");
});

Deno.test("top labels: after a re-rank the busiest accounts are named; one outranked goes to other, its series frozen", () => {
  const h = harness(3);
  h.count("a", 100);
  h.count("b", 200);
  h.count("c", 100);
  h.count("heavy", 1_000_000);
  h.advance(TOP_LABELS_RERANK_MS - 1);
  assert.equal(h.count("heavy", 1), OTHER_LABEL_VALUE, "no re-rank before the interval");
  assert.equal(h.count("a", 1_000), "a");
  h.advance(1);
  // The re-rank runs on this increment: heavy, a (1 100) and b (200) outrank c (100).
  assert.equal(h.count("heavy", 1), "heavy");
  assert.deepEqual([...h.labels.named].sort(), ["a", "b", "heavy"]);
  assert.equal(h.count("c", 50), OTHER_LABEL_VALUE, "an account out of the set counts as other");
  assert.equal(h.series.get("c"), 100, "its series stays where it was (monotonic, frozen)");
  assert.equal(
    h.series.get("heavy"),
    1,
    "a new name starts at zero: its earlier bytes are in other",
  );
});

Deno.test("top labels: a quiet named account is not churned out when nobody outranks it", () => {
  const h = harness(2);
  h.count("a", 10);
  h.count("b", 10);
  h.advance(10 * TOP_LABELS_RERANK_MS);
  h.count("a", 1);
  assert.deepEqual([...h.labels.named].sort(), ["a", "b"]);
});

Deno.test("top labels (property): bounded values, series never decrease, every byte counted once", () => {
  const named = 4;
  const step = fc.record({
    account: fc.constantFrom(...Array.from({ length: 12 }, (_, i) => `acct${i}`)),
    bytes: fc.integer({ min: 0, max: 10_000 }),
    wait: fc.constantFrom(0, 0, 0, 1_000, TOP_LABELS_RERANK_MS),
  });
  fc.assert(fc.property(fc.array(step, { maxLength: 300 }), (steps) => {
    const h = harness(named);
    let total = 0;
    for (const { account, bytes, wait } of steps) {
      h.advance(wait);
      const before = new Map(h.series);
      h.count(account, bytes);
      total += bytes;
      for (const [label, value] of h.series) {
        assert.ok(value >= (before.get(label) ?? 0), `${label} went down`);
      }
      assert.ok(h.labels.named.size <= named);
      assert.ok(h.series.size <= 2 * named + 1, `${h.series.size} series`);
    }
    const live = [...h.series.values()].reduce((a, b) => a + b, 0);
    assert.equal(live + h.droppedBytes(), total);
  }));
});
