/**
 * Graceful shutdown's grace period: wait while sessions are still running,
 * but no longer than the grace allows.
 *
 * @module
 */

/** How often the session count is looked at while draining. */
const DRAIN_POLL_MS = 50;

/** Resolves once `busy()` is false or `graceMs` has passed, whichever comes first. */
export async function drainWithin(busy: () => boolean, graceMs: number): Promise<void> {
  const deadline = Date.now() + graceMs;
  while (busy() && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
  }
}
