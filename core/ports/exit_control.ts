/**
 * What an operator can see and change about a proxy's exits: its listeners and
 * the exit each uses, the candidate exits the hub offers, a choice by hand,
 * and the way back to automatic. One implementation serves both front ends
 * that drive it — the admin API (`/v1/listeners`, `/v1/exits`) and the
 * terminal UI — so they cannot disagree (docs/operations.md#admin-api).
 *
 * @module
 */
import type { ExitAttributes } from "../domain/attributes.ts";
import type { ManualChoiceConflict } from "../domain/manual_choice.ts";
import type { DestinationSource } from "../events.ts";
import type { Multiaddr, PeerId } from "../ids.ts";

/** The exit a listener uses now, and how it was chosen. */
export interface ListenerExit {
  /** The exit's peer id. */
  readonly peerId: PeerId;
  /** `pinned[r]`, `sticky`, `discovered` or `manual`. */
  readonly source: DestinationSource;
}

/** One listener (a front door such as a SOCKS5 port) of a proxy. */
export interface ListenerStatus {
  /** Its name in the admin API's paths: `<protocol>-<port>`, e.g. `socks5-1080`. */
  readonly name: string;
  /** The protocol it speaks, e.g. `socks5`. */
  readonly protocol: string;
  /** The address it listens on. */
  readonly bind: string;
  /** The port it listens on. */
  readonly port: number;
  /** Its exit, or undefined while it has none (looking for one). */
  readonly exit?: ListenerExit;
}

/** An exit the hub offered (or a pinned exit it described). */
export interface ExitCandidate {
  /** The exit's peer id. */
  readonly peerId: PeerId;
  /** What it registered about itself, when the hub said. */
  readonly attributes?: ExitAttributes;
  /** Its routes as the hub gave them, direct ones first. */
  readonly routes: readonly Multiaddr[];
  /** True when every route goes through a relay. */
  readonly relayedOnly: boolean;
  /** The listeners it was offered for (it passes their filters, or they pin it). */
  readonly offeredFor: readonly string[];
  /** The listeners that use it now. */
  readonly usedBy: readonly string[];
}

/** The candidates of every listener, merged by peer, and what could not be asked. */
export interface ExitsReport {
  /** Every listener with its exit. */
  readonly listeners: readonly ListenerStatus[];
  /** Each candidate once, in the hub's order of first appearance. */
  readonly candidates: readonly ExitCandidate[];
  /** Listeners whose candidates could not be listed, and why (no hub, a timeout…). */
  readonly problems: readonly { readonly listener: string; readonly message: string }[];
}

/** Who asks for a change, for the log line (e.g. `admin API from 127.0.0.1:53012`, `terminal UI`). */
export interface OperatorRequest {
  /** Who or what asks. */
  readonly by: string;
}

/** What a choice by hand came to. */
export type ExitChoiceOutcome =
  /** The peer was reached and is the listener's exit now. */
  | { readonly kind: "selected"; readonly listener: ListenerStatus }
  /** The choice contradicts the listener's pin or filters and was not overridden. */
  | { readonly kind: "refused"; readonly conflict: ManualChoiceConflict }
  /** The peer could not be reached; the listener keeps its exit. */
  | { readonly kind: "unreachable" }
  /** No listener has that name. */
  | { readonly kind: "unknown-listener" };

/** What going back to automatic came to. */
export type AutomaticChoiceOutcome =
  /** The listener's exit is chosen automatically (now, or it already was). */
  | { readonly kind: "automatic"; readonly listener: ListenerStatus }
  /** No automatic exit was reached yet; the search goes on in the background. */
  | { readonly kind: "searching"; readonly listener: ListenerStatus }
  /** No listener has that name. */
  | { readonly kind: "unknown-listener" };

/**
 * The operator's view of a proxy's exits.
 *
 * @example
 * ```ts
 * const [first] = control.listeners();
 * const { candidates } = await control.exits(AbortSignal.timeout(10_000));
 * await control.choose(first!.name, candidates[0]!.peerId, { by: "terminal UI" });
 * await control.automatic(first!.name, { by: "terminal UI" });
 * ```
 */
export interface ExitControl {
  /** Every listener with the exit it uses now (no I/O). */
  listeners(): ListenerStatus[];
  /** Asks the hub for each listener's candidates (one query per distinct filter set). */
  exits(signal?: AbortSignal): Promise<ExitsReport>;
  /**
   * Reaches `peer` and makes it the exit of `listener` (a name, or its port
   * as digits), kept in the sticky store. A choice against the listener's hard
   * pin or filters is refused unless `override` is true.
   */
  choose(
    listener: string,
    peer: PeerId,
    request: OperatorRequest & { readonly override?: boolean },
  ): Promise<ExitChoiceOutcome>;
  /**
   * Forgets a hand-picked exit of `listener` and chooses again as at start;
   * `signal` bounds the wait (the search goes on).
   */
  automatic(
    listener: string,
    request: OperatorRequest,
    signal?: AbortSignal,
  ): Promise<AutomaticChoiceOutcome>;
}
