/**
 * Single-flight: concurrent callers for one key share one run of the work.
 * Just-in-time SOCKS connections that arrive while their port has no exit
 * all wait on ONE discovery (the anchor starts one per waiter).
 *
 * @module
 */

/**
 * Runs at most one `fn` per key at a time; callers that arrive while it runs
 * get the same result. Once it settles the key is free again, so a later call
 * starts fresh work (no caching of results or failures).
 *
 * @example
 * ```ts
 * const flights = new SingleFlight<number, ConnectedDestination>();
 * const exit = await flights.run(port, () => connector.connect(server), waiterSignal);
 * ```
 */
export class SingleFlight<K, T> {
  readonly #flights = new Map<K, Promise<T>>();

  /**
   * Joins the run for `key`, starting `fn` when none is in flight. `signal`
   * detaches only this caller (rejecting with the signal's reason); the shared
   * work goes on for the others. To stop the work itself, give `fn` its own
   * signal.
   */
  run(key: K, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const flight = this.#flights.get(key) ?? this.#start(key, fn);
    return signal === undefined ? flight : detachable(flight, signal);
  }

  /** True while work for `key` is in flight. */
  has(key: K): boolean {
    return this.#flights.has(key);
  }

  /** How many keys have work in flight. */
  get size(): number {
    return this.#flights.size;
  }

  #start(key: K, fn: () => Promise<T>): Promise<T> {
    const flight = invoke(fn).finally(() => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
    });
    // Every caller gets the outcome through its own promise; this one only
    // keeps a run whose callers all detached from being reported as unhandled.
    flight.catch(() => {});
    this.#flights.set(key, flight);
    return flight;
  }
}

function invoke<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error);
  }
}

function detachable<T>(flight: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    flight.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
