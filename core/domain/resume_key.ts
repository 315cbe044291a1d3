/**
 * Resume keys of an exit's TLS listener (docs/wire-protocols.md#tls): a proxy admitted once with
 * a one-time ticket gets a key that admits its further TLS connections, so that a pool of
 * connections costs one ticket, not one each. A key is bound to the peer it was issued to, good
 * for {@link DEFAULT_RESUME_KEY_IDLE_MS} after its last use, and one per peer: issuing again
 * hands out the peer's current key. Like a ticket, it only ever travels inside TLS to the
 * certificate the proxy pinned. Pure: randomness and time come from the caller.
 *
 * @module
 */
import type { PeerId } from "../ids.ts";

/** Bytes of a resume key. */
export const RESUME_KEY_BYTES = 32;

/** A key unused for this long is forgotten. */
export const DEFAULT_RESUME_KEY_IDLE_MS = 10 * 60_000;

/** Peers holding a key at once; past it the least recently used key is forgotten. */
export const DEFAULT_MAX_RESUME_KEYS = 10_000;

/** How the keys are made and bounded. */
export interface ResumeKeysOptions {
  /** `n` random bytes (crypto.getRandomValues in production). */
  readonly random: (n: number) => Uint8Array;
  /** Default {@link DEFAULT_RESUME_KEY_IDLE_MS}. */
  readonly idleMs?: number;
  /** Default {@link DEFAULT_MAX_RESUME_KEYS}. */
  readonly maxKeys?: number;
}

/** The outcome of presenting a key. */
export type ResumeVerdict =
  | { readonly ok: true; readonly peer: PeerId }
  | { readonly ok: false; readonly message: string };

interface Held {
  readonly peer: PeerId;
  readonly key: Uint8Array;
  lastUsedMs: number;
}

/**
 * The keys one exit handed out.
 *
 * @example
 * ```ts
 * const keys = new ResumeKeys({ random: (n) => crypto.getRandomValues(new Uint8Array(n)) });
 * const key = keys.issue(peer, Date.now());
 * keys.redeem(key, peer, Date.now()); // { ok: true, peer }
 * ```
 */
export class ResumeKeys {
  readonly #random: (n: number) => Uint8Array;
  readonly #idleMs: number;
  readonly #maxKeys: number;
  /** By hex key, least recently used first (a Map keeps insertion order; a use re-inserts). */
  readonly #byKey = new Map<string, Held>();
  readonly #byPeer = new Map<PeerId, string>();

  /** Keys made with `random`, within these bounds. */
  constructor(options: ResumeKeysOptions) {
    this.#random = options.random;
    this.#idleMs = options.idleMs ?? DEFAULT_RESUME_KEY_IDLE_MS;
    this.#maxKeys = options.maxKeys ?? DEFAULT_MAX_RESUME_KEYS;
  }

  /** Keys held. */
  get size(): number {
    return this.#byKey.size;
  }

  /** `peer`'s key: its current one (its idle time starts again), or a new one. */
  issue(peer: PeerId, nowMs: number): Uint8Array {
    this.#prune(nowMs);
    const current = this.#byPeer.get(peer);
    if (current !== undefined) return this.#touch(current, nowMs).key;
    const key = this.#random(RESUME_KEY_BYTES);
    if (key.byteLength !== RESUME_KEY_BYTES) {
      throw new TypeError(`random(${RESUME_KEY_BYTES}) returned ${key.byteLength} bytes.`);
    }
    const hex = hexOf(key);
    this.#byKey.set(hex, { peer, key, lastUsedMs: nowMs });
    this.#byPeer.set(peer, hex);
    for (const [old, held] of this.#byKey) {
      if (this.#byKey.size <= this.#maxKeys) break;
      this.#forget(old, held);
    }
    return key;
  }

  /** Presents `key` for `claimedPeer`: admitted while the key is held and was issued to it. */
  redeem(key: Uint8Array, claimedPeer: PeerId, nowMs: number): ResumeVerdict {
    this.#prune(nowMs);
    if (key.byteLength !== RESUME_KEY_BYTES) {
      return {
        ok: false,
        message: `A resume key is ${RESUME_KEY_BYTES} bytes, not ${key.byteLength}.`,
      };
    }
    const hex = hexOf(key);
    const held = this.#byKey.get(hex);
    if (held === undefined) {
      return {
        ok: false,
        message: "This exit holds no such resume key (expired or never issued).",
      };
    }
    if (held.peer !== claimedPeer) {
      return {
        ok: false,
        message: `This resume key was issued to ${held.peer}, not ${claimedPeer}.`,
      };
    }
    this.#touch(hex, nowMs);
    return { ok: true, peer: held.peer };
  }

  /** Forgets `peer`'s key (the exit hung up on it). */
  revoke(peer: PeerId): void {
    const hex = this.#byPeer.get(peer);
    if (hex !== undefined) this.#forget(hex, this.#byKey.get(hex)!);
  }

  #touch(hex: string, nowMs: number): Held {
    const held = this.#byKey.get(hex)!;
    held.lastUsedMs = nowMs;
    this.#byKey.delete(hex);
    this.#byKey.set(hex, held);
    return held;
  }

  #prune(nowMs: number): void {
    for (const [hex, held] of this.#byKey) {
      if (nowMs - held.lastUsedMs <= this.#idleMs) break;
      this.#forget(hex, held);
    }
  }

  #forget(hex: string, held: Held): void {
    this.#byKey.delete(hex);
    if (this.#byPeer.get(held.peer) === hex) this.#byPeer.delete(held.peer);
  }
}

function hexOf(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += byte.toString(16).padStart(2, "0");
  return out;
}
