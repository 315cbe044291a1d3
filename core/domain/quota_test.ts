import assert from "node:assert/strict";
import fc from "fast-check";
import { ConnectionCounter } from "./connection_counter.ts";
import { parseQuotaRecord, periodEndMs, periodKey, QuotaLedger } from "./quota.ts";

const DEC_7 = Date.UTC(2026, 11, 7, 22, 30); // a Monday
const DEC_9 = Date.UTC(2026, 11, 9, 1);
const DEC_14 = Date.UTC(2026, 11, 14, 0, 0);
const JAN_1 = Date.UTC(2027, 0, 1);

Deno.test("quota: periods start at 00:00 UTC of the day, the Monday, the 1st", () => {
  assert.equal(periodKey("day", DEC_7), "day:2026-12-07");
  assert.equal(periodKey("week", DEC_7), "week:2026-12-07");
  assert.equal(periodKey("week", DEC_9), "week:2026-12-07");
  assert.equal(periodKey("week", DEC_14), "week:2026-12-14");
  assert.equal(periodKey("week", Date.UTC(2026, 11, 13, 23, 59)), "week:2026-12-07");
  assert.equal(periodKey("month", DEC_9), "month:2026-12");
  assert.equal(periodKey("month", JAN_1), "month:2027-01");
});

Deno.test("quota: bytes add up per account and period, and a new period starts from zero", () => {
  const ledger = new QuotaLedger();
  const quota = { bytes: 5_000_000, period: "day" } as const;
  ledger.add("alice", "day", 3_000_000, DEC_7);
  ledger.add("bob", "day", 1, DEC_7);
  assert.equal(ledger.exhausted("alice", quota, DEC_7), false);
  ledger.add("alice", "day", 2_000_000, DEC_7);
  assert.equal(ledger.used("alice", "day", DEC_7), 5_000_000);
  assert.equal(ledger.exhausted("alice", quota, DEC_7), true);
  assert.equal(ledger.exhausted("bob", quota, DEC_7), false);
  assert.equal(ledger.exhausted("alice", quota, DEC_9), false, "a new day");
  assert.equal(ledger.used("alice", "month", DEC_7), 0, "another kind of period is another count");
});

Deno.test("quota: an exhaustion is reported once per account and period", () => {
  const ledger = new QuotaLedger();
  assert.equal(ledger.firstReport("alice", "day", DEC_7), true);
  assert.equal(ledger.firstReport("alice", "day", DEC_7 + 1000), false);
  assert.equal(ledger.firstReport("bob", "day", DEC_7), true);
  assert.equal(ledger.firstReport("alice", "day", DEC_9), true);
});

Deno.test("quota: a record round-trips, so a restart keeps the counts", () => {
  const ledger = new QuotaLedger();
  ledger.add("alice", "week", 4_000, DEC_7);
  assert.equal(ledger.takeChanges(), true);
  assert.equal(ledger.takeChanges(), false);
  const parsed = parseQuotaRecord(JSON.stringify(ledger.toRecord()));
  assert.ok(parsed.ok);
  const restored = new QuotaLedger(parsed.record);
  assert.equal(restored.used("alice", "week", DEC_9), 4_000);
});

Deno.test("quota: a bad record is refused with the reason; bad entries are skipped", () => {
  assert.deepEqual(parseQuotaRecord("[]"), { ok: false, message: "not a JSON object" });
  assert.equal(parseQuotaRecord('{"version":2,"accounts":{}}').ok, false);
  const parsed = parseQuotaRecord(JSON.stringify({
    version: 1,
    accounts: {
      alice: { period: "day:2026-12-07", bytes: 5 },
      bob: { period: "yesterday", bytes: 5 },
      carol: { period: "day:2026-12-07", bytes: -1 },
    },
  }));
  assert.ok(parsed.ok);
  assert.deepEqual(Object.keys(parsed.record.accounts), ["alice"]);
  assert.equal(parsed.skipped, 2);
});

Deno.test("quota record (property): arbitrary text parses or is refused, never throws", () => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
      const parsed = parseQuotaRecord(text);
      if (parsed.ok) {
        for (const entry of Object.values(parsed.record.accounts)) {
          assert.ok(Number.isSafeInteger(entry.bytes) && entry.bytes >= 0);
        }
      } else assert.equal(typeof parsed.message, "string");
    }),
  );
});

Deno.test("connections: counted per account against the limit, released to zero", () => {
  const counter = new ConnectionCounter();
  assert.equal(counter.tryAcquire("alice", 2), true);
  assert.equal(counter.tryAcquire("alice", 2), true);
  assert.equal(counter.tryAcquire("alice", 2), false);
  assert.equal(counter.tryAcquire("bob", 2), true);
  counter.release("alice");
  assert.equal(counter.count("alice"), 1);
  assert.equal(counter.tryAcquire("alice", 2), true);
  counter.release("bob");
  counter.release("bob");
  assert.equal(counter.count("bob"), 0);
});

Deno.test("periodEndMs: each period ends where the next begins; a bad key has no end", () => {
  assert.equal(periodEndMs("month:2026-12"), Date.UTC(2027, 0, 1));
  assert.equal(periodEndMs("day:2026-12-31"), Date.UTC(2027, 0, 1));
  assert.equal(periodEndMs("week:2026-12-07"), Date.UTC(2026, 11, 14));
  for (const period of ["day", "week", "month"] as const) {
    const now = Date.UTC(2026, 11, 9, 13);
    const end = periodEndMs(periodKey(period, now))!;
    assert.ok(end > now, period);
    assert.notEqual(periodKey(period, end), periodKey(period, now), period);
    assert.equal(periodKey(period, end - 1), periodKey(period, now), period);
  }
  assert.equal(periodEndMs("year:2026"), undefined);
});
