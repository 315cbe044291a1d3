/**
 * Reading a persisted sessions record (docs/proxy-behaviour.md#sessions) that may be missing,
 * old or damaged: every session is checked on its own, bad ones are skipped and named, good ones
 * kept. Shared by the file and Deno KV stores.
 *
 * @module
 */
import { describeType, isPlainObject } from "./json_shape.ts";
import {
  emptyStickySessionsRecord,
  STICKY_SESSIONS_VERSION,
  type StickySessionRecord,
  type StickySessionsRecord,
} from "../../core/ports/sticky_store.ts";

/** Longest selection key kept: filters rendered as text and a 64-character id, far below this. */
export const MAX_SESSION_KEY_CHARS = 4_096;

/** Most sessions read from one record: four times the proxy's bound on selections. */
export const MAX_STORED_SESSIONS = 4_096;

/** Longest peer id kept (as for the pools). */
const MAX_PEER_ID_CHARS = 128;

/** Longest account name kept. */
const MAX_OWNER_CHARS = 1_024;

/** Longest session lifetime kept: a username's largest `ttl` (1440 minutes). */
const MAX_IDLE_MS = 1_440 * 60_000;

/** What reading a stored sessions value found. */
export interface ParsedSessionsRecord {
  /** The usable part: empty when the whole value was set aside. */
  readonly record: StickySessionsRecord;
  /** Why the whole value was set aside (not JSON, wrong shape, unknown version). */
  readonly unusable?: string;
  /** One line per skipped session. */
  readonly skipped: readonly string[];
}

/**
 * Reads the text of a sessions file. Never throws.
 *
 * @example
 * ```ts
 * parseSessionsJson('{"version":1,"sessions":{}}').record; // { version: 1, sessions: {} }
 * ```
 */
export function parseSessionsJson(text: string): ParsedSessionsRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return setAside(`it is not JSON (${reason})`);
  }
  return parseSessionsValue(value);
}

/**
 * Reads a decoded sessions record. Never throws.
 *
 * @example
 * ```ts
 * parseSessionsValue({ version: 1, sessions: { k: "bad" } }).skipped; // ['session "k": …']
 * ```
 */
export function parseSessionsValue(value: unknown): ParsedSessionsRecord {
  if (!isPlainObject(value)) return setAside(`it is ${describeType(value)}, not an object`);
  if (value.version !== STICKY_SESSIONS_VERSION) {
    return setAside(
      `its version is ${JSON.stringify(value.version) ?? "missing"}, ` +
        `and this p2proxy reads version ${STICKY_SESSIONS_VERSION}`,
    );
  }
  if (!isPlainObject(value.sessions)) {
    return setAside(`its "sessions" is ${describeType(value.sessions)}, not an object`);
  }
  // Collected as pairs: a key such as `__proto__` must stay an own property.
  const kept: [string, StickySessionRecord][] = [];
  const skipped: string[] = [];
  for (const [key, entry] of Object.entries(value.sessions)) {
    const parsed = parseSessionEntry(key, entry);
    if (typeof parsed === "string") {
      skipped.push(`session ${JSON.stringify(key.slice(0, 80))}: ${parsed}`);
    } else if (kept.length >= MAX_STORED_SESSIONS) {
      skipped.push(`session ${JSON.stringify(key.slice(0, 80))}: past ${MAX_STORED_SESSIONS}`);
    } else {
      kept.push([key, parsed]);
    }
  }
  return {
    record: { version: STICKY_SESSIONS_VERSION, sessions: Object.fromEntries(kept) },
    skipped,
  };
}

/**
 * One session entry under `key`, or why it is not one.
 *
 * @example
 * ```ts
 * parseSessionEntry("k", { peer_id: "12D3…", owner: null, idle_ms: 600000, used_at: 0 });
 * ```
 */
export function parseSessionEntry(key: string, value: unknown): StickySessionRecord | string {
  if (key.length === 0 || key.length > MAX_SESSION_KEY_CHARS) {
    return `its key is not 1–${MAX_SESSION_KEY_CHARS} characters`;
  }
  if (!isPlainObject(value)) return `it is ${describeType(value)}, not an object`;
  const { peer_id: peerId, owner, idle_ms: idleMs, used_at: usedAt } = value;
  if (typeof peerId !== "string" || peerId.length === 0 || peerId.length > MAX_PEER_ID_CHARS) {
    return `"peer_id" is not a peer id`;
  }
  if (owner !== null && (typeof owner !== "string" || owner.length > MAX_OWNER_CHARS)) {
    return `"owner" is neither null nor an account name`;
  }
  if (!Number.isSafeInteger(idleMs) || (idleMs as number) < 1 || (idleMs as number) > MAX_IDLE_MS) {
    return `"idle_ms" is not a whole number of milliseconds from 1 to ${MAX_IDLE_MS}`;
  }
  if (typeof usedAt !== "number" || !Number.isFinite(usedAt) || usedAt < 0) {
    return `"used_at" is not a time`;
  }
  return { peer_id: peerId, owner, idle_ms: idleMs as number, used_at: usedAt };
}

function setAside(reason: string): ParsedSessionsRecord {
  return { record: emptyStickySessionsRecord(), unusable: reason, skipped: [] };
}
