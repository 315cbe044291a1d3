/**
 * js-libp2p's peer store takes its lock from mortice, which opens one process-wide
 * `BroadcastChannel` (for lock requests from worker threads) and calls `channel.unref?.()` so
 * that, under Node, the channel never keeps a process alive. Deno's `BroadcastChannel` has no
 * `unref`, so the channel held every program that ever started a node open after its last node
 * stopped: a script using the client library never ended by itself. This adds the missing
 * `unref` (Node's meaning: stop holding the event loop open) through Deno's own switch for it,
 * the symbol its node:worker_threads BroadcastChannel uses; where that switch is absent, nothing
 * changes. Imported for its effect, before libp2p creates a node.
 *
 * @module
 */

/** The ref switch Deno's BroadcastChannel carries (`Symbol(refBroadcastChannel)`), if any. */
function refSwitch(): symbol | undefined {
  if (typeof BroadcastChannel !== "function") return undefined;
  return Object.getOwnPropertySymbols(BroadcastChannel.prototype)
    .find((symbol) => symbol.description === "refBroadcastChannel");
}

/** Adds `BroadcastChannel.prototype.unref` (and `ref`) where Deno lacks them; idempotent. */
export function ensureBroadcastChannelUnref(): boolean {
  const prototype = globalThis.BroadcastChannel?.prototype as
    | (BroadcastChannel & { unref?: () => void; ref?: () => void })
    | undefined;
  if (!prototype || typeof prototype.unref === "function") return true;
  const symbol = refSwitch();
  if (symbol === undefined) return false;
  type Switchable = BroadcastChannel & Record<symbol, (ref: boolean) => void>;
  Object.defineProperties(prototype, {
    unref: {
      value(this: Switchable): void {
        this[symbol]?.(false);
      },
      configurable: true,
      writable: true,
    },
    ref: {
      value(this: Switchable): void {
        this[symbol]?.(true);
      },
      configurable: true,
      writable: true,
    },
  });
  return true;
}

ensureBroadcastChannelUnref();
