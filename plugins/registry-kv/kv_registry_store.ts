/**
 * The hub's registry of exits in Deno KV, so that several hubs opening the
 * same database (a file on shared storage, or KV Connect) share one registry
 * (docs/hub-behaviour.md#shared-registry).
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { describeError, P2proxyError } from "../../core/errors.ts";
import type { PeerId } from "../../core/ids.ts";
import type { ExitRegistration, RegistryStore } from "../../core/ports/registry_store.ts";
import { parseRegistration } from "../_shared/registry_record.ts";

const logger = getLogger(["p2proxy", "registry-kv"]);

/** Every key this store writes starts with this; the exit's peer id follows. */
export const REGISTRY_KV_PREFIX = ["p2proxy", "registry"] as const;

/**
 * How long Deno KV keeps a record past its own expiry before deleting it by
 * itself, so a shared database does not fill with dead exits when no hub is
 * left to sweep. An hour leaves every hub's sweeper time to see the expiry.
 */
export const KV_EXPIRY_GRACE_MS = 60 * 60 * 1000;

/** Why the KV registry could not be used. */
export type KvRegistryStoreErrorCode = "unavailable";

/**
 * Keeps each registration under `["p2proxy", "registry", <peer id>]`. Reads
 * skip entries that are not registrations (written by another version) with
 * one warning; write failures reject, so the hub answers INTERNAL and the
 * exit retries.
 */
export class KvRegistryStore implements RegistryStore {
  /** Where the database lives (a path, `:memory:` or a URL), for messages. */
  readonly location: string;
  readonly #kv: Deno.Kv;
  #warnedAboutEntries = false;
  #closed = false;

  /** A store over an open database; `close()` closes it. Prefer `KvRegistryStore.open`. */
  constructor(kv: Deno.Kv, location: string) {
    this.#kv = kv;
    this.location = location;
  }

  /** Opens the database at `location`; throws a `P2proxyError` `unavailable` naming it when that fails. */
  static async open(location: string): Promise<KvRegistryStore> {
    try {
      return new KvRegistryStore(await Deno.openKv(location), location);
    } catch (error) {
      throw new P2proxyError<KvRegistryStoreErrorCode>(
        "unavailable",
        `Could not open the Deno KV registry "${location}": ${describeError(error)}. ` +
          "Check that its folder exists and that p2proxy may read and write it " +
          "(and that Deno KV is enabled with --unstable-kv).",
        { cause: error },
      );
    }
  }

  /** Writes the record; KV deletes it by itself {@link KV_EXPIRY_GRACE_MS} after it expires. */
  async put(registration: ExitRegistration): Promise<void> {
    const expireIn = Math.max(0, registration.expiresAt - Date.now()) + KV_EXPIRY_GRACE_MS;
    await this.#kv.set(keyOf(registration.peerId), registration, { expireIn });
  }

  /** The record of `peer`, or undefined (also for an entry that is not a registration). */
  async get(peer: PeerId): Promise<ExitRegistration | undefined> {
    const entry = await this.#kv.get(keyOf(peer));
    if (entry.versionstamp === null) return undefined;
    return this.#parse(entry.key, entry.value);
  }

  /** Every valid record under the prefix. */
  async list(): Promise<ExitRegistration[]> {
    const records: ExitRegistration[] = [];
    for await (const entry of this.#kv.list({ prefix: [...REGISTRY_KV_PREFIX] })) {
      const record = this.#parse(entry.key, entry.value);
      if (record) records.push(record);
    }
    return records;
  }

  /** Deletes the record of `peer`; true when there was one. */
  async remove(peer: PeerId): Promise<boolean> {
    const entry = await this.#kv.get(keyOf(peer));
    if (entry.versionstamp === null) return false;
    const result = await this.#kv.atomic().check(entry).delete(entry.key).commit();
    // Another hub changed or deleted it in between: it is gone or fresh, either way not ours to drop.
    return result.ok;
  }

  /** Closes the database. Safe to call twice. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#kv.close();
    }
    return Promise.resolve();
  }

  #parse(key: Deno.KvKey, value: unknown): ExitRegistration | undefined {
    const peer = key[REGISTRY_KV_PREFIX.length];
    const parsed = parseRegistration(value);
    if (parsed.ok && parsed.value.peerId === peer) return parsed.value;
    if (!this.#warnedAboutEntries) {
      this.#warnedAboutEntries = true;
      logger.warn(
        "Skipping entry {key} of the registry {location}: {problem}. It is replaced when that " +
          "exit registers again.",
        {
          key: JSON.stringify(key.map(String)),
          location: this.location,
          problem: parsed.ok ? "its key names another peer" : parsed.problem,
        },
      );
    }
    return undefined;
  }
}

function keyOf(peer: PeerId): Deno.KvKey {
  return [...REGISTRY_KV_PREFIX, peer];
}
