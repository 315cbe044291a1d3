/**
 * One-time tickets that admit a proxy to an exit's QUIC endpoint (docs/wire-protocols.md#quic).
 *
 * Deno's QUIC has no client certificates, so the exit cannot tell who opened a QUIC connection.
 * Instead the proxy asks for a ticket over its libp2p connection, which noise authenticated: the
 * exit issues a random ticket bound to that connection's peer id, and the first stream of the
 * QUIC connection presents it. A ticket is good once, for a short time, and only for the peer it
 * was issued to; every presentation consumes it, so a replay — even of a refused ticket — fails.
 *
 * Pure: randomness and time come from the caller.
 *
 * @example
 * ```ts
 * const book = new TicketBook({ random: (n) => crypto.getRandomValues(new Uint8Array(n)) });
 * const { ticket } = book.issue(proxyPeer, Date.now());
 * book.redeem(ticket, proxyPeer, Date.now()); // { ok: true, peer: proxyPeer }
 * book.redeem(ticket, proxyPeer, Date.now()); // { ok: false, reason: "replayed", … }
 * ```
 *
 * @module
 */
import { P2proxyError } from "../errors.ts";
import type { PeerId } from "../ids.ts";

/** Bytes of randomness in a ticket: 256 bits, never guessed. */
export const TICKET_BYTES = 32;

/** How long a ticket may wait for its QUIC connection by default. */
export const DEFAULT_TICKET_TTL_MS = 30_000;

/** Tickets one peer may hold unredeemed; asking for more retires its oldest. */
export const DEFAULT_MAX_TICKETS_PER_PEER = 8;

/** Unredeemed tickets across all peers; past it, issuing is refused until some expire. */
export const DEFAULT_MAX_TICKETS = 10_000;

/** How a {@link TicketBook} is set up. */
export interface TicketBookOptions {
  /** `n` random bytes (a CSPRNG: `crypto.getRandomValues`). */
  readonly random: (n: number) => Uint8Array;
  /** Lifetime of a ticket; default {@link DEFAULT_TICKET_TTL_MS}. */
  readonly ttlMs?: number;
  /** Default {@link DEFAULT_MAX_TICKETS_PER_PEER}. */
  readonly maxPerPeer?: number;
  /** Default {@link DEFAULT_MAX_TICKETS}. */
  readonly maxTotal?: number;
}

/** A ticket handed to a proxy. */
export interface IssuedTicket {
  /** The secret the QUIC connection's first stream presents. */
  readonly ticket: Uint8Array;
  /** Unix ms after which it is refused. */
  readonly expiresAtMs: number;
}

/** Why a ticket was refused. */
export type TicketRefusal =
  /** Not a ticket this book issued (or one it forgot after its expiry). */
  | "unknown"
  /** Issued, but its lifetime passed before it was presented. */
  | "expired"
  /** Presented before: tickets are good once. */
  | "replayed"
  /** Issued to another peer than the one presenting it. */
  | "wrong-peer"
  /** Not the size of a ticket. */
  | "malformed";

/** The outcome of presenting a ticket. */
export type TicketVerdict =
  | { readonly ok: true; readonly peer: PeerId }
  | { readonly ok: false; readonly reason: TicketRefusal; readonly message: string };

/** Why a ticket could not be issued. */
export type TicketErrorCode = "too-many-tickets";

/** A refused issue. */
export class TicketError extends P2proxyError<TicketErrorCode> {}

interface Outstanding {
  readonly peer: PeerId;
  readonly expiresAtMs: number;
}

/** Issues and redeems tickets; one per exit. Bounded in memory by its limits. */
export class TicketBook {
  readonly #random: (n: number) => Uint8Array;
  readonly #ttlMs: number;
  readonly #maxPerPeer: number;
  readonly #maxTotal: number;
  /** Unredeemed tickets by their hex form, oldest first (a Map keeps insertion order). */
  readonly #outstanding = new Map<string, Outstanding>();
  /** Presented tickets until they would have expired, so a replay is named as one. */
  readonly #spent = new Map<string, number>();

  /** A book with these limits. */
  constructor(options: TicketBookOptions) {
    this.#random = options.random;
    this.#ttlMs = options.ttlMs ?? DEFAULT_TICKET_TTL_MS;
    this.#maxPerPeer = options.maxPerPeer ?? DEFAULT_MAX_TICKETS_PER_PEER;
    this.#maxTotal = options.maxTotal ?? DEFAULT_MAX_TICKETS;
  }

  /** Unredeemed, unexpired tickets (as of the last issue or redeem). */
  get outstanding(): number {
    return this.#outstanding.size;
  }

  /**
   * A new ticket for `peer`, good for the book's lifetime from `nowMs`. A peer over its limit
   * loses its oldest ticket.
   *
   * @throws {TicketError} `too-many-tickets` when every slot of the book is taken.
   */
  issue(peer: PeerId, nowMs: number): IssuedTicket {
    this.#prune(nowMs);
    const held = [...this.#outstanding].filter(([, entry]) => entry.peer === peer);
    for (const [key] of held.slice(0, Math.max(0, held.length - this.#maxPerPeer + 1))) {
      this.#outstanding.delete(key);
    }
    if (this.#outstanding.size >= this.#maxTotal) {
      throw new TicketError(
        "too-many-tickets",
        `This exit holds ${this.#outstanding.size} unredeemed QUIC tickets, its limit; ` +
          "try again once some expire.",
      );
    }
    const ticket = this.#random(TICKET_BYTES);
    if (ticket.byteLength !== TICKET_BYTES) {
      throw new TypeError(`random(${TICKET_BYTES}) returned ${ticket.byteLength} bytes.`);
    }
    const expiresAtMs = nowMs + this.#ttlMs;
    this.#outstanding.set(hexOf(ticket), { peer, expiresAtMs });
    return { ticket, expiresAtMs };
  }

  /**
   * Presents `ticket` for `claimedPeer`: admitted once when this book issued it to that peer and
   * it has not expired. Any presentation of an issued ticket consumes it.
   */
  redeem(ticket: Uint8Array, claimedPeer: PeerId, nowMs: number): TicketVerdict {
    this.#prune(nowMs);
    if (ticket.byteLength !== TICKET_BYTES) {
      return refuse(
        "malformed",
        `A ticket is ${TICKET_BYTES} bytes, this one ${ticket.byteLength}.`,
      );
    }
    const key = hexOf(ticket);
    const entry = this.#outstanding.get(key);
    if (!entry) {
      return this.#spent.has(key)
        ? refuse("replayed", "This ticket was already used; ask the exit for a new one.")
        : refuse("unknown", "This exit did not issue this ticket, or it expired long ago.");
    }
    this.#outstanding.delete(key);
    this.#spent.set(key, entry.expiresAtMs);
    // Bounded like the outstanding tickets: past the bound the oldest spent ones are forgotten
    // (a replay of those is then refused as "unknown", still refused).
    for (const [old] of this.#spent) {
      if (this.#spent.size <= this.#maxTotal) break;
      this.#spent.delete(old);
    }
    if (nowMs > entry.expiresAtMs) {
      return refuse("expired", `This ticket expired ${nowMs - entry.expiresAtMs} ms ago.`);
    }
    if (entry.peer !== claimedPeer) {
      return refuse(
        "wrong-peer",
        `This ticket was issued to ${entry.peer}, not to ${claimedPeer}.`,
      );
    }
    return { ok: true, peer: entry.peer };
  }

  /** Forgets what expired: unredeemed tickets, and spent ones past the time they could replay. */
  #prune(nowMs: number): void {
    for (const [key, entry] of this.#outstanding) {
      // An expired ticket is kept until presented once more or until twice its lifetime, so that
      // a late presentation is told "expired" rather than "unknown".
      if (nowMs > entry.expiresAtMs + this.#ttlMs) this.#outstanding.delete(key);
    }
    for (const [key, expiresAtMs] of this.#spent) {
      if (nowMs > expiresAtMs + this.#ttlMs) this.#spent.delete(key);
    }
  }
}

function refuse(reason: TicketRefusal, message: string): TicketVerdict {
  return { ok: false, reason, message };
}

function hexOf(bytes: Uint8Array): string {
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex;
}
