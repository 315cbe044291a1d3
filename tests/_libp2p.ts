/**
 * In-process js-libp2p nodes under Deno's sanitizers (`deno task test` runs
 * with `--sanitize-ops --sanitize-resources`). A stopped node leaves two
 * things behind that are js-libp2p's, not ours; this module deals with both
 * so that tests with real nodes keep every sanitizer on:
 *
 * - mortice (the peer store's lock) opens one process-wide BroadcastChannel
 *   the first time any node writes to its peer store, and never closes it.
 *   Importing this module opens it, before any test starts, so no test is
 *   blamed for it.
 * - `node.stop()` leaves timers of up to 1 s armed: @libp2p/utils' debounce
 *   in libp2p's AddressManager (armed when the transports close; its `stop`
 *   is never called), the inbound-connection RateLimiter's expiry and
 *   it-queue's idle debounce. {@link libp2pSettled} waits them out, so they
 *   neither leak from the test that stopped the nodes nor fire in the next.
 *
 * @module
 */
import { createLibp2p } from "libp2p";

/**
 * The longest timer a stopped node leaves armed: the AddressManager debounce
 * (libp2p 3.3 `address-manager/index.ts`) and the RateLimiter's `duration: 1`
 * s (`connection-manager/index.ts`). Plus a margin for timers armed by the
 * last socket closes right after `stop()` returns.
 */
const LIBP2P_STOP_TIMERS_MS = 1_000 + 100;

await openMorticeChannel();

/** Creates mortice's process-wide BroadcastChannel now, outside every test. */
async function openMorticeChannel(): Promise<void> {
  const node = await createLibp2p({ start: false });
  await node.peerStore.merge(node.peerId, { tags: { "sanitizer-warm-up": { value: 1 } } });
}

/**
 * Resolves once the timers js-libp2p leaves behind after `stop()` have
 * fired. Call it after stopping the last node of a test.
 */
export function libp2pSettled(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, LIBP2P_STOP_TIMERS_MS));
}
