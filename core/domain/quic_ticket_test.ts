import assert from "node:assert/strict";
import fc from "fast-check";
import { aPeerId } from "../testing/builders.ts";
import { TICKET_BYTES, TicketBook, TicketError } from "./quic_ticket.ts";

const TTL_MS = 1_000;
const A = aPeerId(1);
const B = aPeerId(2);

/** A book whose randomness counts up, so every ticket differs and tests are repeatable. */
function book(options: { maxPerPeer?: number; maxTotal?: number } = {}): TicketBook {
  let next = 0;
  return new TicketBook({
    ttlMs: TTL_MS,
    random: (n) => {
      const bytes = new Uint8Array(n);
      new DataView(bytes.buffer).setUint32(0, ++next);
      return bytes;
    },
    ...options,
  });
}

Deno.test("a ticket admits the peer it was issued to, once", () => {
  const tickets = book();
  const { ticket, expiresAtMs } = tickets.issue(A, 0);
  assert.equal(ticket.byteLength, TICKET_BYTES);
  assert.equal(expiresAtMs, TTL_MS);
  assert.deepEqual(tickets.redeem(ticket, A, 10), { ok: true, peer: A });
  const again = tickets.redeem(ticket, A, 20);
  assert.equal(again.ok, false);
  assert.equal(!again.ok && again.reason, "replayed");
});

Deno.test("a ticket of another peer is refused, and consumed", () => {
  const tickets = book();
  const { ticket } = tickets.issue(A, 0);
  const stolen = tickets.redeem(ticket, B, 10);
  assert.equal(!stolen.ok && stolen.reason, "wrong-peer");
  assert.match(!stolen.ok ? stolen.message : "", new RegExp(`issued to ${A}, not to ${B}`));
  const owner = tickets.redeem(ticket, A, 20);
  assert.equal(!owner.ok && owner.reason, "replayed", "a presented ticket stays spent");
});

Deno.test("an expired ticket is refused as expired", () => {
  const tickets = book();
  const { ticket } = tickets.issue(A, 0);
  const late = tickets.redeem(ticket, A, TTL_MS + 1);
  assert.equal(!late.ok && late.reason, "expired");
});

Deno.test("an unknown or malformed ticket is refused", () => {
  const tickets = book();
  tickets.issue(A, 0);
  const unknown = tickets.redeem(new Uint8Array(TICKET_BYTES).fill(7), A, 0);
  assert.equal(!unknown.ok && unknown.reason, "unknown");
  const short = tickets.redeem(new Uint8Array(3), A, 0);
  assert.equal(!short.ok && short.reason, "malformed");
});

Deno.test("tickets are forgotten some time after they expire", () => {
  const tickets = book();
  const { ticket } = tickets.issue(A, 0);
  tickets.issue(B, 0);
  assert.equal(tickets.outstanding, 2);
  tickets.issue(B, 3 * TTL_MS);
  assert.equal(tickets.outstanding, 1, "the two old tickets are gone, the new one stays");
  const ancient = tickets.redeem(ticket, A, 3 * TTL_MS);
  assert.equal(!ancient.ok && ancient.reason, "unknown");
});

Deno.test("a peer over its limit loses its oldest ticket; other peers keep theirs", () => {
  const tickets = book({ maxPerPeer: 2 });
  const first = tickets.issue(A, 0).ticket;
  const second = tickets.issue(A, 1).ticket;
  const other = tickets.issue(B, 1).ticket;
  const third = tickets.issue(A, 2).ticket;
  assert.equal(tickets.outstanding, 3);
  const retired = tickets.redeem(first, A, 3);
  assert.equal(!retired.ok && retired.reason, "unknown");
  for (const [ticket, peer] of [[second, A], [third, A], [other, B]] as const) {
    assert.deepEqual(tickets.redeem(ticket, peer, 3), { ok: true, peer });
  }
});

Deno.test("the book refuses to issue past its total limit until tickets expire", () => {
  const tickets = book({ maxTotal: 2 });
  tickets.issue(A, 0);
  tickets.issue(B, 0);
  assert.throws(
    () => tickets.issue(aPeerId(3), 0),
    (error) => error instanceof TicketError && error.code === "too-many-tickets",
  );
  tickets.issue(aPeerId(3), 3 * TTL_MS);
});

Deno.test("arbitrary bytes presented as a ticket never throw and never admit", () => {
  const tickets = book();
  tickets.issue(A, 0);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), fc.nat(10 * TTL_MS), (bytes, now) => {
      const verdict = tickets.redeem(bytes, A, now);
      assert.equal(verdict.ok, false);
    }),
  );
});

Deno.test("every issued ticket admits exactly once, whatever the order of presentation", () => {
  fc.assert(
    fc.property(fc.array(fc.nat(3), { minLength: 1, maxLength: 20 }), (order) => {
      const tickets = book({ maxPerPeer: 100 });
      const issued = [0, 1, 2, 3].map(() => tickets.issue(A, 0).ticket);
      const admitted = order.map((index) => tickets.redeem(issued[index]!, A, 1).ok);
      const firstSeen = order.map((index, position) => order.indexOf(index) === position);
      assert.deepEqual(admitted, firstSeen);
    }),
  );
});
