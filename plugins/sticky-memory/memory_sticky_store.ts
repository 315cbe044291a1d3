/**
 * A sticky store that lives only as long as the process.
 *
 * @module
 */
import {
  emptyStickyRecord,
  emptyStickySessionsRecord,
  type StickyRecord,
  type StickySessionsRecord,
  type StickyStore,
} from "../../core/ports/sticky_store.ts";

/**
 * Keeps the sticky record in memory. Records are deep-copied on the way in and
 * out, like a real store's serialisation, so callers never share state with it.
 */
export class InMemoryStickyStore implements StickyStore {
  #record: StickyRecord;
  #sessions: StickySessionsRecord = emptyStickySessionsRecord();

  /** Starts with a copy of `initial` (empty by default). */
  constructor(initial: StickyRecord = emptyStickyRecord()) {
    this.#record = structuredClone(initial);
  }

  /** A copy of the record saved last. */
  load(): Promise<StickyRecord> {
    return Promise.resolve(structuredClone(this.#record));
  }

  /** Replaces the record with a copy of `record`. */
  save(record: StickyRecord): Promise<void> {
    this.#record = structuredClone(record);
    return Promise.resolve();
  }

  /** A copy of the sessions saved last. */
  loadSessions(): Promise<StickySessionsRecord> {
    return Promise.resolve(structuredClone(this.#sessions));
  }

  /** Replaces the sessions with a copy of `record`. */
  saveSessions(record: StickySessionsRecord): Promise<void> {
    this.#sessions = structuredClone(record);
    return Promise.resolve();
  }
}
