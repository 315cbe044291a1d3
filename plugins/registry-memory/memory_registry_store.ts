/**
 * A registry that lives only as long as the hub process (the default).
 *
 * @module
 */
import type { PeerId } from "../../core/ids.ts";
import type { ExitRegistration, RegistryStore } from "../../core/ports/registry_store.ts";

/**
 * Keeps registrations in a map. Records are deep-copied on the way in and
 * out, like a real store's serialisation, so callers never share state with it.
 */
export class InMemoryRegistryStore implements RegistryStore {
  readonly #records = new Map<PeerId, ExitRegistration>();

  /** Adds or replaces a copy of `registration`. */
  put(registration: ExitRegistration): Promise<void> {
    this.#records.set(registration.peerId, structuredClone(registration));
    return Promise.resolve();
  }

  /** A copy of the record of `peer`, or undefined. */
  get(peer: PeerId): Promise<ExitRegistration | undefined> {
    const record = this.#records.get(peer);
    return Promise.resolve(record === undefined ? undefined : structuredClone(record));
  }

  /** Copies of every record. */
  list(): Promise<ExitRegistration[]> {
    return Promise.resolve([...this.#records.values()].map((record) => structuredClone(record)));
  }

  /** Forgets `peer`; true when there was a record. */
  remove(peer: PeerId): Promise<boolean> {
    return Promise.resolve(this.#records.delete(peer));
  }

  /** Nothing to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
