/**
 * Bounding a wait that takes no signal (Deno's QUIC calls take none).
 *
 * @module
 */

/**
 * `promise`, or a rejection with the signal's reason once `signal` aborts. The promise itself
 * runs on: the caller cleans up what it yields late.
 *
 * @example
 * ```ts
 * const conn = await untilAborted(Deno.connectQuic(options), AbortSignal.timeout(2_000));
 * ```
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
