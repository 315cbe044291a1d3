/**
 * Inputs the terminal UI's tests share: a proxy with two listeners, two
 * candidates from the hub, and a way to feed many inputs at once.
 *
 * @module
 */
import type { P2ProxyEvent } from "../../core/events.ts";
import type { PeerId } from "../../core/ids.ts";
import type { ExitsReport, ListenerStatus } from "../../core/ports/exit_control.ts";
import {
  aCircuitAddress,
  aDirectAddress,
  aPeerId,
  someAttributes,
} from "../../core/testing/builders.ts";
import {
  type ConsoleCommand,
  type ConsoleInput,
  type ConsoleKey,
  type ConsoleState,
  initialState,
  step,
} from "./console_state.ts";

/** The exits of the tests: NL direct, DE relayed only. */
export const [NL_EXIT, DE_EXIT] = [aPeerId(1), aPeerId(2)] as [PeerId, PeerId];

/** The proxy's own peer id. */
export const PROXY = aPeerId(9);

/** Start of the made-up time line (2026-12-07 19:00:00 UTC). */
export const T0 = Date.UTC(2026, 11, 7, 19, 0, 0);

/** Two SOCKS5 listeners, 1080 (NL) and 1081 (DE), without exits yet. */
export const LISTENERS: readonly ListenerStatus[] = [
  { name: "socks5-1080", protocol: "socks5", bind: "127.0.0.1", port: 1080 },
  { name: "socks5-1081", protocol: "socks5", bind: "127.0.0.1", port: 1081 },
];

/** What the hub lists: NL for 1080, both for 1081. */
export const REPORT: ExitsReport = {
  listeners: LISTENERS,
  candidates: [
    {
      peerId: NL_EXIT,
      attributes: someAttributes({ country: "NL", city: "Amsterdam", bandwidthBps: 1e9 }),
      routes: [aDirectAddress(NL_EXIT)],
      relayedOnly: false,
      offeredFor: ["socks5-1080", "socks5-1081"],
      usedBy: [],
    },
    {
      peerId: DE_EXIT,
      attributes: someAttributes({ country: "DE", city: "Berlin", asn: 3320 }),
      routes: [aCircuitAddress(DE_EXIT)],
      relayedOnly: true,
      offeredFor: ["socks5-1081"],
      usedBy: [],
    },
  ],
  problems: [],
};

/** Feeds `inputs` in order; returns the last state and every command asked for. */
export function feed(
  state: ConsoleState,
  ...inputs: ConsoleInput[]
): { state: ConsoleState; commands: ConsoleCommand[] } {
  const commands: ConsoleCommand[] = [];
  for (const input of inputs) {
    const next = step(state, input);
    state = next.state;
    commands.push(...next.commands);
  }
  return { state, commands };
}

/** An event at `at`. */
export const event = (e: P2ProxyEvent, at = T0): ConsoleInput => ({ kind: "event", event: e, at });

/** A key press at `at`. */
export const key = (k: string | ConsoleKey, at = T0): ConsoleInput => ({
  kind: "key",
  key: typeof k === "string" ? { input: k } : k,
  at,
});

/** A named key press. */
export const named = (name: NonNullable<ConsoleKey["name"]>, at = T0): ConsoleInput =>
  key({ input: "", name }, at);

/**
 * A proxy console opened at 80×24 with both listeners on their exits, the
 * candidates listed, and some traffic and log lines.
 */
export function aBusyProxy(): ConsoleState {
  return feed(
    initialState(),
    event({ type: "local-peer-id", peerId: PROXY }),
    {
      kind: "open",
      view: { role: "proxy", peerId: PROXY, listeners: LISTENERS, canChoose: true },
      columns: 80,
      rows: 24,
      at: T0,
    },
    { kind: "candidates", report: REPORT, at: T0 },
    event({
      type: "active-destination",
      port: 1080,
      peerId: NL_EXIT,
      source: { kind: "discovered" },
    }),
    event({ type: "active-destination", port: 1081, peerId: DE_EXIT, source: { kind: "sticky" } }),
    event({
      type: "connection-connected",
      peerId: NL_EXIT,
      address: aDirectAddress(NL_EXIT),
      relayed: false,
    }),
    event({ type: "ping", peerId: NL_EXIT, rttMs: 3.2 }),
    event({ type: "session-new", sessionId: "s1", port: 1080, target: "a:80", peerId: NL_EXIT }),
    event({ type: "bandwidth", peerId: NL_EXIT, up: 2048, down: 40_960 }),
    { kind: "tick", at: T0 + 1000 },
    {
      kind: "log",
      line: {
        at: T0,
        level: "info",
        category: "discovery",
        message: "Port 1080 now leaves through NL (discovered).",
      },
    },
    {
      kind: "log",
      line: { at: T0, level: "debug", category: "events", message: "Session s1 started." },
    },
  ).state;
}
