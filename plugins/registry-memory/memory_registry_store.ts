/**
 * A registry that lives only as long as the hub process (the default).
 *
 * @module
 */
import type { PeerId } from "../../core/ids.ts";
import type {
  ExitRegistration,
  RegistryQuery,
  RegistryStore,
} from "../../core/ports/registry_store.ts";
import { RegistryIndex } from "../_shared/registry_index.ts";

/**
 * Keeps registrations in a map indexed by country and ASN, so `find` reads
 * only the matching records. Records are copied on the way in and out, like
 * a real store's serialisation, so callers never share state with it.
 */
export class InMemoryRegistryStore implements RegistryStore {
  readonly #index = new RegistryIndex();

  /** Adds or replaces a copy of `registration`. */
  put(registration: ExitRegistration): Promise<void> {
    this.#index.put(registration);
    return Promise.resolve();
  }

  /** A copy of the record of `peer`, or undefined. */
  get(peer: PeerId): Promise<ExitRegistration | undefined> {
    return Promise.resolve(this.#index.get(peer));
  }

  /** Copies of every record. */
  list(): Promise<ExitRegistration[]> {
    return Promise.resolve(this.#index.list());
  }

  /** Copies of the records with the query's country and ASN, from the index. */
  find(query: RegistryQuery): Promise<ExitRegistration[]> {
    return Promise.resolve(this.#index.find(query));
  }

  /** Forgets `peer`; true when there was a record. */
  remove(peer: PeerId): Promise<boolean> {
    return Promise.resolve(this.#index.remove(peer));
  }

  /** Nothing to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
