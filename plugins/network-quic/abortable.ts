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

/** A deadline that is released when the work ends (see {@link deadlineSignal}). */
export interface Deadline {
  /** Aborts when the time is up (a `TimeoutError` DOMException) or when the parent aborts. */
  readonly signal: AbortSignal;
  /** True once the time is up (not when only the parent aborted). */
  readonly expired: boolean;
  /** Cancels the timer and lets go of the parent; call it in a `finally`. */
  clear(): void;
}

/**
 * Like `AbortSignal.any([AbortSignal.timeout(ms), parent])`, but released by `clear`: the
 * per-CONNECT deadlines otherwise stay armed, each with its signal and listeners, for the full
 * timeout (10 s and more) after the CONNECT finished in a millisecond.
 *
 * @example
 * ```ts
 * const deadline = deadlineSignal(5_000, request.signal);
 * try {
 *   return await open(deadline.signal);
 * } finally {
 *   deadline.clear();
 * }
 * ```
 */
export function deadlineSignal(ms: number, parent?: AbortSignal): Deadline {
  const controller = new AbortController();
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    controller.abort(new DOMException(`No answer within ${ms} ms.`, "TimeoutError"));
  }, ms);
  const onParentAbort = () => controller.abort(parent!.reason);
  if (parent?.aborted) controller.abort(parent.reason);
  else parent?.addEventListener("abort", onParentAbort, { once: true });
  return {
    signal: controller.signal,
    get expired() {
      return expired;
    },
    clear() {
      clearTimeout(timer);
      parent?.removeEventListener("abort", onParentAbort);
    },
  };
}
