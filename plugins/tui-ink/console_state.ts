/**
 * The terminal UI's state and the one pure function that changes it: events,
 * log lines, keys, clock ticks, terminal sizes and the answers of the exit
 * control go in; a new state and the commands to run (ask the hub, choose an
 * exit, quit) come out. Nothing here reads a clock or touches the terminal,
 * so every behaviour is tested by feeding inputs with made-up times.
 *
 * @module
 */
import type { P2ProxyEvent } from "../../core/events.ts";
import type { PeerId } from "../../core/ids.ts";
import type { ExitCandidate, ExitsReport, ListenerExit } from "../../core/ports/exit_control.ts";
import {
  CONSOLE_LOG_LEVELS,
  type ConsoleLogLevel,
  type ConsoleLogLine,
  type ConsoleRole,
  type ConsoleView,
} from "../../core/ports/operator_console.ts";
import {
  CANDIDATES_MIN_INTERVAL_MS,
  CANDIDATES_REFRESH_MS,
  DEFAULT_LOG_LINES,
  NOTICE_MS,
  SPARK_SAMPLES,
} from "./constants.ts";

/** The tabs, in key order (`1` `2` `3`). */
export const TABS = ["overview", "network", "logs"] as const;

/** A tab. */
export type TabName = typeof TABS[number];

/** Keys the UI acts on, by name. */
export type KeyName =
  | "tab"
  | "up"
  | "down"
  | "left"
  | "right"
  | "enter"
  | "escape"
  | "pageUp"
  | "pageDown"
  | "home"
  | "end";

/** One key press: a character in `input`, or a named key. */
export interface ConsoleKey {
  /** The character typed (empty for a named key). */
  readonly input: string;
  /** The named key, when it is one. */
  readonly name?: KeyName;
  /** Ctrl was held. */
  readonly ctrl?: boolean;
  /** Shift was held (Shift-Tab goes back a tab). */
  readonly shift?: boolean;
}

/** What a listener (one proxy port) shows. */
export interface PortState {
  /** The port, which names the listener in events. */
  readonly port: number;
  /** `<protocol>-<port>`, once the listener list is known. */
  readonly name?: string;
  /** Its protocol, once known. */
  readonly protocol?: string;
  /** Its bind address, once known. */
  readonly bind?: string;
  /** The exit it uses, if any. */
  readonly exit?: ListenerExit;
  /** Sessions running now. */
  readonly sessions: number;
  /** Failed sessions and reported errors since start. */
  readonly errors: number;
  /** The last error's message. */
  readonly lastError?: string;
  /** Bytes per second toward the exit, one sample per tick, newest last. */
  readonly up: readonly number[];
  /** Bytes per second from the exit, one sample per tick, newest last. */
  readonly down: readonly number[];
}

/** What the UI knows about a peer from connection events and pings. */
export interface PeerState {
  /** The address of its current connection. */
  readonly address?: string;
  /** True when that connection goes through a relay. */
  readonly relayed?: boolean;
  /** True while connected. */
  readonly connected: boolean;
  /** The last ping's round trip. */
  readonly rttMs?: number;
}

/** An exit role's counters. */
export interface ExitRoleState {
  /** Sessions running now. */
  readonly active: number;
  /** Sessions since start. */
  readonly total: number;
  /** Bytes toward destinations, from ended sessions. */
  readonly bytesUp: number;
  /** Bytes from destinations, from ended sessions. */
  readonly bytesDown: number;
  /** Refused requests by reason. */
  readonly denials: Readonly<Record<string, number>>;
  /** Registration with each hub. */
  readonly hubs: Readonly<
    Record<string, {
      readonly registered: boolean;
      readonly failures: number;
      readonly error?: string;
      readonly at: number;
    }>
  >;
}

/** A hub's counters, from its `hub-stats` events. */
export interface HubRoleState {
  /** Exits registered now. */
  readonly registeredExits: number;
  /** Relay reservations held now. */
  readonly relayReservations: number;
  /** Registrations since start. */
  readonly registrations: number;
  /** Expired exits since start. */
  readonly expiredExits: number;
  /** FindNodes + ResolvePeers since start. */
  readonly lookups: number;
  /** Lookups per second between the last two reports. */
  readonly lookupsPerSec?: number;
  /** Refused or reset requests by code. */
  readonly errors: Readonly<Record<string, number>>;
  /** When the last report arrived. */
  readonly at: number;
}

/** An action's outcome in the status line. */
export interface Notice {
  /** What happened, in a sentence. */
  readonly text: string;
  /** How it went. */
  readonly tone: "ok" | "warn" | "error";
  /** When (notices fade after {@link NOTICE_MS}). */
  readonly at: number;
}

/** Everything the screen shows. */
export interface ConsoleState {
  /** The role whose views are shown. */
  readonly role: ConsoleRole;
  /** True once the console is on screen. */
  readonly opened: boolean;
  /** The node's peer id. */
  readonly peerId?: PeerId;
  /** Extra lines for the overview. */
  readonly notes: readonly string[];
  /** True when the exit can be chosen from here (a proxy with an exit control). */
  readonly canChoose: boolean;
  /** Terminal width. */
  readonly columns: number;
  /** Terminal height. */
  readonly rows: number;
  /** The tab on screen. */
  readonly tab: TabName;
  /** True while the key help is shown. */
  readonly help: boolean;
  /** The proxy's listeners: config order, then ports only events named. */
  readonly ports: readonly PortState[];
  /** Index of the focused listener in `ports`. */
  readonly focus: number;
  /** Peers by id. */
  readonly peers: Readonly<Record<string, PeerState>>;
  /** Bytes per peer since the last tick (bandwidth events). */
  readonly pendingBytes: Readonly<Record<string, { readonly up: number; readonly down: number }>>;
  /** The hub's candidates, as last listed. */
  readonly candidates: readonly ExitCandidate[];
  /** When they were listed. */
  readonly candidatesAt?: number;
  /** True while the hub is being asked. */
  readonly candidatesLoading: boolean;
  /** Why the last listing failed, or which listeners it could not list. */
  readonly candidatesProblem?: string;
  /** The highlighted candidate in the Network tab. */
  readonly cursor: number;
  /** Log lines, oldest first. */
  readonly logs: readonly ConsoleLogLine[];
  /** Lines kept at most. */
  readonly maxLogLines: number;
  /** The lowest level shown in the Logs tab. */
  readonly logLevel: ConsoleLogLevel;
  /** Lines scrolled up from the newest (0 follows new lines). */
  readonly logScroll: number;
  /** An exit's counters. */
  readonly exit: ExitRoleState;
  /** A hub's counters, once reported. */
  readonly hub?: HubRoleState;
  /** The last action's outcome. */
  readonly notice?: Notice;
  /** An action in flight, said in the status line; Enter and Esc wait for it. */
  readonly busy?: string;
}

/** Everything that changes the state. */
export type ConsoleInput =
  | {
    readonly kind: "open";
    readonly view: Omit<ConsoleView, "control"> & { readonly canChoose: boolean };
    readonly columns: number;
    readonly rows: number;
    readonly at: number;
  }
  | { readonly kind: "event"; readonly event: P2ProxyEvent; readonly at: number }
  | { readonly kind: "log"; readonly line: ConsoleLogLine }
  | { readonly kind: "key"; readonly key: ConsoleKey; readonly at: number }
  | { readonly kind: "tick"; readonly at: number }
  | { readonly kind: "resize"; readonly columns: number; readonly rows: number }
  | { readonly kind: "candidates"; readonly report: ExitsReport; readonly at: number }
  | { readonly kind: "candidates-failed"; readonly message: string; readonly at: number }
  | { readonly kind: "done"; readonly notice: Omit<Notice, "at">; readonly at: number };

/** What the shell around the state must do. */
export type ConsoleCommand =
  | { readonly kind: "quit" }
  | { readonly kind: "refresh" }
  | { readonly kind: "choose"; readonly listener: string; readonly peerId: PeerId }
  | { readonly kind: "automatic"; readonly listener: string };

/** A new state and the commands it asks for. */
export interface Step {
  /** The state after the input. */
  readonly state: ConsoleState;
  /** Commands to run, in order. */
  readonly commands: readonly ConsoleCommand[];
}

/**
 * The state before anything happened.
 *
 * @example
 * ```ts
 * let state = initialState();
 * state = step(state, { kind: "key", key: { input: "3" }, at: 0 }).state; // the Logs tab
 * ```
 */
export function initialState(options: { maxLogLines?: number } = {}): ConsoleState {
  return {
    role: "proxy",
    opened: false,
    notes: [],
    canChoose: false,
    columns: 80,
    rows: 24,
    tab: "overview",
    help: false,
    ports: [],
    focus: 0,
    peers: {},
    pendingBytes: {},
    candidates: [],
    candidatesLoading: false,
    cursor: 0,
    logs: [],
    maxLogLines: options.maxLogLines ?? DEFAULT_LOG_LINES,
    logLevel: "info",
    logScroll: 0,
    exit: { active: 0, total: 0, bytesUp: 0, bytesDown: 0, denials: {}, hubs: {} },
  };
}

/** Applies one input. */
export function step(state: ConsoleState, input: ConsoleInput): Step {
  switch (input.kind) {
    case "open":
      return opened(state, input);
    case "event":
      return onEvent(state, input.event, input.at);
    case "log":
      return only(addLog(state, input.line));
    case "key":
      return onKey(state, input.key, input.at);
    case "tick":
      return onTick(state, input.at);
    case "resize":
      return only({ ...state, columns: input.columns, rows: input.rows });
    case "candidates":
      return only(withCandidates(state, input.report, input.at));
    case "candidates-failed":
      return only({
        ...state,
        candidatesLoading: false,
        candidatesAt: input.at,
        candidatesProblem: input.message,
      });
    case "done": {
      const { busy: _, ...rest } = state;
      return only({ ...rest, notice: { ...input.notice, at: input.at } });
    }
  }
}

/** The candidates the Network tab lists for the focused listener. */
export function candidatesOfFocus(state: ConsoleState): readonly ExitCandidate[] {
  const name = state.ports[state.focus]?.name;
  if (name === undefined) return state.candidates;
  return state.candidates.filter((c) => c.offeredFor.includes(name));
}

/** The log lines at or above the chosen level. */
export function visibleLogs(state: ConsoleState): readonly ConsoleLogLine[] {
  const lowest = CONSOLE_LOG_LEVELS.indexOf(state.logLevel);
  return state.logs.filter((line) => CONSOLE_LOG_LEVELS.indexOf(line.level) >= lowest);
}

/** The tabs a role has: exits and hubs choose no exit, so they have no Network tab. */
export function tabsOf(state: Pick<ConsoleState, "role">): readonly TabName[] {
  return state.role === "exit" || state.role === "hub" ? ["overview", "logs"] : TABS;
}

/** A tab's title. */
export function tabTitle(tab: TabName): string {
  return tab === "overview" ? "Overview" : tab === "network" ? "Network" : "Logs";
}

const only = (state: ConsoleState): Step => ({ state, commands: [] });

function opened(state: ConsoleState, input: Extract<ConsoleInput, { kind: "open" }>): Step {
  const { view } = input;
  let ports = state.ports;
  for (const listener of view.listeners ?? []) {
    ports = upsertPort(ports, listener.port, (port) => ({
      ...port,
      name: listener.name,
      protocol: listener.protocol,
      bind: listener.bind,
      ...(port.exit ?? listener.exit ? { exit: port.exit ?? listener.exit } : {}),
    }));
  }
  // Config order first: the listener list is in it; ports only events named follow.
  const order = (view.listeners ?? []).map((l) => l.port);
  const rank = (port: number) => order.includes(port) ? order.indexOf(port) : order.length + port;
  const next: ConsoleState = {
    ...state,
    opened: true,
    role: view.role,
    ...(view.peerId ? { peerId: view.peerId } : {}),
    notes: view.notes ?? [],
    canChoose: view.canChoose,
    columns: input.columns,
    rows: input.rows,
    ports: [...ports].sort((a, b) => rank(a.port) - rank(b.port)),
  };
  return { state: next, commands: next.canChoose ? [{ kind: "refresh" }] : [] };
}

function onEvent(state: ConsoleState, event: P2ProxyEvent, at: number): Step {
  switch (event.type) {
    case "local-peer-id":
      return only(state.peerId ? state : { ...state, peerId: event.peerId });
    case "active-destination": {
      const next = {
        ...state,
        ports: upsertPort(state.ports, event.port, (port) => {
          const { exit: _, ...rest } = port;
          return event.peerId && event.source
            ? { ...rest, exit: { peerId: event.peerId, source: event.source } }
            : rest;
        }),
      };
      return refreshWhenUnknown(next, event.peerId, at);
    }
    case "session-new":
      return only(updatePort(state, event.port, (p) => ({ ...p, sessions: p.sessions + 1 })));
    case "session-end":
      return only(updatePort(state, event.port, (p) => ({
        ...p,
        sessions: Math.max(0, p.sessions - 1),
        ...(event.error
          ? { errors: p.errors + 1, lastError: `${event.error.stage}: ${event.error.message}` }
          : {}),
      })));
    case "session-failed":
      return only(updatePort(state, event.port, (p) => ({
        ...p,
        errors: p.errors + 1,
        lastError: `${event.stage} (SOCKS reply ${event.replyCode})`,
      })));
    case "error":
      if (event.port === undefined) return only(state);
      return only(updatePort(state, event.port, (p) => ({
        ...p,
        errors: p.errors + 1,
        lastError: event.message,
      })));
    case "bandwidth": {
      const pending = state.pendingBytes[event.peerId] ?? { up: 0, down: 0 };
      return only({
        ...state,
        pendingBytes: {
          ...state.pendingBytes,
          [event.peerId]: { up: pending.up + event.up, down: pending.down + event.down },
        },
      });
    }
    case "connection-connected":
    case "peer-route":
      return only(updatePeer(state, event.peerId, (p) => ({
        ...p,
        connected: true,
        address: event.address,
        relayed: event.relayed,
      })));
    case "connection-disconnected":
      return only(updatePeer(state, event.peerId, (p) => ({ ...p, connected: false })));
    case "ping":
      return only(updatePeer(state, event.peerId, (p) => ({ ...p, rttMs: event.rttMs })));
    case "exit-session-start":
      return only({
        ...state,
        exit: { ...state.exit, active: state.exit.active + 1, total: state.exit.total + 1 },
      });
    case "exit-session-end":
      return only({
        ...state,
        exit: {
          ...state.exit,
          active: Math.max(0, state.exit.active - 1),
          bytesUp: state.exit.bytesUp + event.bytesUp,
          bytesDown: state.exit.bytesDown + event.bytesDown,
        },
      });
    case "exit-denied":
      return only({
        ...state,
        exit: {
          ...state.exit,
          denials: {
            ...state.exit.denials,
            [event.reason]: (state.exit.denials[event.reason] ?? 0) + 1,
          },
        },
      });
    case "hub-registration":
      return only({
        ...state,
        exit: {
          ...state.exit,
          hubs: {
            ...state.exit.hubs,
            [event.hub]: {
              registered: event.registered,
              failures: event.failures,
              ...(event.error === undefined ? {} : { error: event.error }),
              at,
            },
          },
        },
      });
    case "hub-stats": {
      const lookups = event.finds + event.resolves;
      const previous = state.hub;
      const seconds = previous ? (at - previous.at) / 1000 : 0;
      const lookupsPerSec = previous && seconds > 0
        ? Math.max(0, lookups - previous.lookups) / seconds
        : undefined;
      return only({
        ...state,
        hub: {
          registeredExits: event.registeredExits,
          relayReservations: event.relayReservations,
          registrations: event.registrations,
          expiredExits: event.expiredExits,
          lookups,
          ...(lookupsPerSec === undefined ? {} : { lookupsPerSec }),
          errors: event.errors,
          at,
        },
      });
    }
    default:
      return only(state);
  }
}

/** An exit the candidate list does not know yet: ask the hub (not too often) for its details. */
function refreshWhenUnknown(state: ConsoleState, peer: PeerId | undefined, at: number): Step {
  if (
    peer === undefined || !state.opened || !state.canChoose || state.candidatesLoading ||
    state.candidates.some((c) => c.peerId === peer) ||
    (state.candidatesAt !== undefined && at - state.candidatesAt < CANDIDATES_MIN_INTERVAL_MS)
  ) {
    return only(state);
  }
  return { state: { ...state, candidatesLoading: true }, commands: [{ kind: "refresh" }] };
}

function onTick(state: ConsoleState, at: number): Step {
  const sample = (values: readonly number[], value: number) =>
    [...values, value].slice(-SPARK_SAMPLES);
  const ports = state.ports.map((port) => {
    const bytes = port.exit ? state.pendingBytes[port.exit.peerId] : undefined;
    return {
      ...port,
      up: sample(port.up, bytes?.up ?? 0),
      down: sample(port.down, bytes?.down ?? 0),
    };
  });
  const notice = state.notice && at - state.notice.at >= NOTICE_MS ? undefined : state.notice;
  const { notice: _, ...rest } = state;
  const next: ConsoleState = { ...rest, ports, pendingBytes: {}, ...(notice ? { notice } : {}) };
  return staleCandidates(next, at) ? refreshing(next) : only(next);
}

function staleCandidates(state: ConsoleState, at: number): boolean {
  return state.opened && state.canChoose && state.tab === "network" &&
    !state.candidatesLoading &&
    (state.candidatesAt === undefined || at - state.candidatesAt >= CANDIDATES_REFRESH_MS);
}

function refreshing(state: ConsoleState): Step {
  return { state: { ...state, candidatesLoading: true }, commands: [{ kind: "refresh" }] };
}

function withCandidates(state: ConsoleState, report: ExitsReport, at: number): ConsoleState {
  let ports = state.ports;
  for (const listener of report.listeners) {
    ports = upsertPort(ports, listener.port, (port) => ({
      ...port,
      name: listener.name,
      protocol: listener.protocol,
      bind: listener.bind,
    }));
  }
  const { candidatesProblem: _, ...rest } = state;
  const problem = report.problems.map((p) => `${p.listener}: ${p.message}`).join("; ");
  const next: ConsoleState = {
    ...rest,
    ports,
    candidates: report.candidates,
    candidatesAt: at,
    candidatesLoading: false,
    ...(problem ? { candidatesProblem: problem } : {}),
  };
  return { ...next, cursor: clamp(next.cursor, candidatesOfFocus(next).length) };
}

function onKey(state: ConsoleState, key: ConsoleKey, at: number): Step {
  if (key.input === "q" || (key.ctrl && key.input === "c")) {
    return { state, commands: [{ kind: "quit" }] };
  }
  if (key.input === "?") return only({ ...state, help: !state.help });
  if (state.help) return only(key.name === "escape" ? { ...state, help: false } : state);
  const tabs = tabsOf(state);
  const numbered = TABS[["1", "2", "3"].indexOf(key.input)];
  if (numbered) return tabs.includes(numbered) ? switchTab(state, numbered, at) : only(state);
  if (key.name === "tab") {
    const offset = key.shift ? tabs.length - 1 : 1;
    return switchTab(state, tabs[(tabs.indexOf(state.tab) + offset) % tabs.length]!, at);
  }
  switch (state.tab) {
    case "overview":
      return only(moveFocus(state, key.name === "up" ? -1 : key.name === "down" ? 1 : 0));
    case "network":
      return onNetworkKey(state, key);
    case "logs":
      return only(onLogsKey(state, key));
  }
}

function switchTab(state: ConsoleState, tab: TabName, at: number): Step {
  const next = { ...state, tab };
  return staleCandidates(next, at) ? refreshing(next) : only(next);
}

function moveFocus(state: ConsoleState, delta: number): ConsoleState {
  if (delta === 0 || state.ports.length === 0) return state;
  const focus = clamp(state.focus + delta, state.ports.length);
  const next = { ...state, focus };
  return { ...next, cursor: clamp(next.cursor, candidatesOfFocus(next).length) };
}

function onNetworkKey(state: ConsoleState, key: ConsoleKey): Step {
  const listed = candidatesOfFocus(state);
  switch (key.name) {
    case "up":
    case "down":
      return only({
        ...state,
        cursor: clamp(state.cursor + (key.name === "up" ? -1 : 1), listed.length),
      });
    case "left":
    case "right":
      return only(moveFocus(state, key.name === "left" ? -1 : 1));
    case "enter": {
      const port = state.ports[state.focus];
      const candidate = listed[state.cursor];
      if (!state.canChoose || state.busy || !port?.name || !candidate) return only(state);
      return {
        state: { ...state, busy: `Reaching ${candidate.peerId} for ${port.name}…` },
        commands: [{ kind: "choose", listener: port.name, peerId: candidate.peerId }],
      };
    }
    case "escape": {
      const port = state.ports[state.focus];
      if (!state.canChoose || state.busy || !port?.name) return only(state);
      return {
        state: { ...state, busy: `${port.name}: choosing automatically…` },
        commands: [{ kind: "automatic", listener: port.name }],
      };
    }
  }
  if (key.input === "r" && state.canChoose && !state.candidatesLoading) return refreshing(state);
  return only(state);
}

function onLogsKey(state: ConsoleState, key: ConsoleKey): ConsoleState {
  const page = Math.max(1, state.rows - 6);
  const total = visibleLogs(state).length;
  const scrollTo = (lines: number) => ({
    ...state,
    logScroll: Math.max(0, Math.min(lines, total - 1)),
  });
  switch (key.name) {
    case "up":
      return scrollTo(state.logScroll + 1);
    case "down":
      return scrollTo(state.logScroll - 1);
    case "pageUp":
      return scrollTo(state.logScroll + page);
    case "pageDown":
      return scrollTo(state.logScroll - page);
    case "home":
      return scrollTo(total - 1);
    case "end":
      return { ...state, logScroll: 0 };
  }
  if (key.input === "f") {
    // Cycle trace … error: fatal alone is never worth a filter.
    const levels = CONSOLE_LOG_LEVELS.slice(0, -1);
    const logLevel = levels[(levels.indexOf(state.logLevel) + 1) % levels.length]!;
    return { ...state, logLevel, logScroll: 0 };
  }
  return state;
}

function addLog(state: ConsoleState, line: ConsoleLogLine): ConsoleState {
  const logs = state.logs.length >= state.maxLogLines
    ? [...state.logs.slice(state.logs.length - state.maxLogLines + 1), line]
    : [...state.logs, line];
  const shown = CONSOLE_LOG_LEVELS.indexOf(line.level) >=
    CONSOLE_LOG_LEVELS.indexOf(state.logLevel);
  // A reader scrolled up keeps the lines they are reading in place.
  const logScroll = state.logScroll > 0 && shown ? state.logScroll + 1 : state.logScroll;
  return { ...state, logs, logScroll };
}

function emptyPort(port: number): PortState {
  return { port, sessions: 0, errors: 0, up: [], down: [] };
}

function upsertPort(
  ports: readonly PortState[],
  port: number,
  change: (port: PortState) => PortState,
): PortState[] {
  const index = ports.findIndex((p) => p.port === port);
  if (index < 0) return [...ports, change(emptyPort(port))];
  return ports.map((p, i) => i === index ? change(p) : p);
}

function updatePort(
  state: ConsoleState,
  port: number,
  change: (port: PortState) => PortState,
): ConsoleState {
  return { ...state, ports: upsertPort(state.ports, port, change) };
}

function updatePeer(
  state: ConsoleState,
  peer: PeerId,
  change: (peer: PeerState) => PeerState,
): ConsoleState {
  const current = state.peers[peer] ?? { connected: false };
  return { ...state, peers: { ...state.peers, [peer]: change(current) } };
}

function clamp(index: number, length: number): number {
  return length === 0 ? 0 : Math.max(0, Math.min(index, length - 1));
}
