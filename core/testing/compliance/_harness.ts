/**
 * Shared plumbing of the compliance suites: every step builds a fresh fixture
 * and releases it, so steps never see each other's state.
 *
 * @module
 */

/** A value or a promise of it. */
export type Awaitable<T> = T | Promise<T>;

/** What every fixture may carry: a way to release what it holds. */
export interface Releasable {
  /** Releases every resource the fixture (and anything it reopened) holds. */
  readonly cleanup?: () => Awaitable<void>;
}

/** Builds a fixture, hands it to `use`, and always releases it. */
export async function withFixture<F extends Releasable>(
  make: () => Awaitable<F>,
  use: (fixture: F) => Promise<void>,
): Promise<void> {
  const fixture = await make();
  try {
    await use(fixture);
  } finally {
    await fixture.cleanup?.();
  }
}

/** True when `value` looks like a promise (a sink's `emit` must not return one). */
export function isThenable(value: unknown): boolean {
  return (typeof value === "object" || typeof value === "function") && value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}

/**
 * True when `error` is `reason` or was caused by it, so an adapter may wrap an
 * abort in its own error as long as it keeps the reason as `cause`.
 */
export function isOrWraps(error: unknown, reason: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current !== undefined; depth++) {
    if (current === reason) return true;
    current = current instanceof Error ? current.cause : undefined;
  }
  return false;
}

/** Timers started through the global `setTimeout` while `run` ran, and not yet fired or cleared. */
export interface TimerReport<T> {
  readonly result: T;
  /** How many such timers were still pending when `run` settled (they have been cleared since). */
  readonly leaked: number;
}

type TimerCallback = (...args: unknown[]) => void;
type SetTimeoutFn = (callback: TimerCallback, delay?: number, ...args: unknown[]) => number;
type ClearTimeoutFn = (id?: number) => void;

/**
 * Runs `run` while watching the global `setTimeout`/`clearTimeout`, then
 * clears and counts the timers it left pending. Deno 2.9 only sanitizes ops
 * with `--sanitize-ops`, and never per step, so the suite watches itself.
 * Pure JavaScript: it wraps the globals and restores them.
 */
export async function watchTimers<T>(run: () => Promise<T>): Promise<TimerReport<T>> {
  const scope = globalThis as unknown as { setTimeout: SetTimeoutFn; clearTimeout: ClearTimeoutFn };
  const originalSet = scope.setTimeout;
  const originalClear = scope.clearTimeout;
  const pending = new Set<number>();
  scope.setTimeout = (callback, delay, ...args) => {
    const id = originalSet(
      (...callbackArgs: unknown[]) => {
        pending.delete(id);
        callback(...callbackArgs);
      },
      delay,
      ...args,
    );
    pending.add(id);
    return id;
  };
  scope.clearTimeout = (id) => {
    if (id !== undefined) pending.delete(id);
    originalClear(id);
  };
  try {
    const result = await run();
    return { result, leaked: pending.size };
  } finally {
    scope.setTimeout = originalSet;
    scope.clearTimeout = originalClear;
    for (const id of pending) originalClear(id);
  }
}

/** A step's bound on waiting for something another party does (a remote's event, a reply). */
export const SETTLE_TIMEOUT_MS = 5_000;

/**
 * Settles like `promise`, or rejects naming `what` once `ms` have passed, so
 * that a step waiting on an implementation fails in seconds instead of hanging.
 * The timer is cleared either way.
 */
export async function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not happen within ${ms} ms.`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Pause between two looks of {@link eventually}. */
const POLL_INTERVAL_MS = 10;

/** Resolves once `probe` returns true, looking every few ms; rejects naming `what` after `ms`. */
export async function eventually(probe: () => boolean, ms: number, what: string): Promise<void> {
  const started = Date.now();
  while (!probe()) {
    if (Date.now() - started > ms) throw new Error(`${what} did not happen within ${ms} ms.`);
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}

/** The settled outcome of `promise`, for steps that accept more than one way to fail. */
export function outcomeOf<T>(
  promise: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return promise.then((value) => ({ ok: true as const, value }), (error) => ({
    ok: false as const,
    error,
  }));
}
