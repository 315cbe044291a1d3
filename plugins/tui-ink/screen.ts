/**
 * The screen as lines of styled text, computed from the state alone: the ink
 * components only paint these lines. Every line fits the terminal's width
 * and there is one line fewer than its height (a frame as tall as the
 * terminal makes ink clear the screen on every redraw, which flickers), so
 * the layout is tested at 80×24 without a terminal.
 *
 * @module
 */
import type { ConsoleLogLevel } from "../../core/ports/operator_console.ts";
import {
  candidatesOfFocus,
  type ConsoleState,
  type PortState,
  TABS,
  tabsOf,
  tabTitle,
  visibleLogs,
} from "./console_state.ts";
import {
  ago,
  clockTime,
  fit,
  formatBandwidth,
  formatBytes,
  formatRate,
  formatRtt,
  shortPeerId,
  sourceLabel,
  sparkline,
  transportOf,
} from "./format.ts";

/** Colours the screen uses (ink's names). */
export type Color = "green" | "yellow" | "red" | "cyan" | "gray" | "magenta";

/** A run of text in one style. */
export interface Segment {
  /** The text (no newline). */
  readonly text: string;
  /** Its colour. */
  readonly color?: Color;
  /** Bold. */
  readonly bold?: boolean;
  /** Swapped foreground and background (the active tab, the cursor). */
  readonly inverse?: boolean;
}

/** One screen line. */
export type ScreenLine = readonly Segment[];

/** Smallest size the layout is drawn for; smaller terminals get a cropped 40×10. */
const MIN_COLUMNS = 40;
const MIN_ROWS = 10;

/** Lines of the key help, by tab and role. */
const HELP: readonly (readonly [string, string])[] = [
  ["1 2 3, Tab", "switch tabs (Shift-Tab goes back)"],
  ["↑ ↓", "focus a listener · move the cursor · scroll the logs"],
  ["← →", "Network: the listener whose exit you choose"],
  ["Enter", "Network: use the exit under the cursor (remembered)"],
  ["Esc", "Network: back to automatic choice · close this help"],
  ["r", "Network: ask the hub again"],
  ["f", "Logs: lowest level shown (trace … error)"],
  ["PgUp PgDn Home End", "Logs: scroll by page, to the top, follow new lines"],
  ["?", "this help"],
  ["q, Ctrl-C", "quit (the node stops cleanly)"],
];

/**
 * The screen for `state` at time `now`.
 *
 * @example
 * ```ts
 * const lines = renderScreen(initialState(), Date.now());
 * lines.map((line) => line.map((s) => s.text).join("")).join("\n");
 * ```
 */
export function renderScreen(state: ConsoleState, now: number): ScreenLine[] {
  const columns = Math.max(MIN_COLUMNS, state.columns);
  const height = Math.max(MIN_ROWS, state.rows) - 1;
  const bodyHeight = height - 3;
  const body = state.help ? helpBody() : bodyOf(state, now, columns, bodyHeight);
  const lines: ScreenLine[] = [
    header(state, columns),
    [{ text: "─".repeat(columns), color: "gray" }],
    ...body.slice(0, bodyHeight),
  ];
  while (lines.length < height - 1) lines.push([]);
  lines.push(statusLine(state, now));
  return lines.map((line) => clip(line, columns));
}

/** The plain text of a screen (what a terminal capture shows, without colours). */
export function screenText(lines: readonly ScreenLine[]): string {
  return lines.map((line) => line.map((s) => s.text).join("").trimEnd()).join("\n");
}

function header(state: ConsoleState, columns: number): ScreenLine {
  const title: Segment = {
    text: ` p2proxy ${state.role}${state.peerId ? ` ${shortPeerId(state.peerId)}` : ""} `,
    bold: true,
  };
  const shown = tabsOf(state);
  const tabs: Segment[] = TABS.flatMap((tab, i) =>
    shown.includes(tab)
      ? [{ text: " " }, {
        text: ` ${i + 1} ${tabTitle(tab)} `,
        ...(state.tab === tab ? { inverse: true, bold: true } : {}),
      }]
      : []
  );
  const right = "? keys  q quit ";
  const used = [title, ...tabs].reduce((n, s) => n + [...s.text].length, 0);
  const gap = Math.max(1, columns - used - right.length);
  return [title, ...tabs, { text: " ".repeat(gap) }, { text: right, color: "gray" }];
}

function statusLine(state: ConsoleState, now: number): ScreenLine {
  if (state.busy) return [{ text: ` ${state.busy}`, color: "cyan" }];
  if (state.notice) {
    const color = state.notice.tone === "ok"
      ? "green"
      : state.notice.tone === "warn"
      ? "yellow"
      : "red";
    return [{ text: ` ${state.notice.text}`, color }];
  }
  const hints = state.tab === "network" && state.canChoose
    ? "↑↓ pick · Enter use it · Esc automatic · ←→ listener · r refresh"
    : state.tab === "logs"
    ? `f level (${state.logLevel}) · ↑↓ PgUp PgDn scroll · End follows`
    : state.tab === "overview" && state.ports.length > 1
    ? "↑↓ focus a listener · 2 choose its exit"
    : "";
  return [{ text: ` ${hints}${hints ? " · " : ""}${clockTime(now)} UTC`, color: "gray" }];
}

function helpBody(): ScreenLine[] {
  return [
    [{ text: " Keys", bold: true }],
    [],
    ...HELP.map(([keys, what]): ScreenLine => [
      { text: ` ${fit(keys, 20)}`, color: "cyan" },
      { text: what },
    ]),
  ];
}

function bodyOf(state: ConsoleState, now: number, columns: number, height: number): ScreenLine[] {
  switch (state.tab) {
    case "overview":
      return overview(state, now, columns, height);
    case "network":
      return networkBody(state, now, columns, height);
    case "logs":
      return logsBody(state, columns, height);
  }
}

// --- Overview -------------------------------------------------------------------------------

function overview(state: ConsoleState, now: number, columns: number, height: number) {
  if (state.role === "exit") return exitOverview(state, now);
  if (state.role === "hub") return hubOverview(state);
  const lines: ScreenLine[] = [];
  if (state.ports.length === 0) lines.push([{ text: " No listener yet.", color: "gray" }]);
  // Blocks around the focused listener, as many as fit with the footer.
  const extra = state.role === "demo" ? roleSummary(state) : [];
  const notes: ScreenLine[] = state.notes.map((note) => [{ text: ` ${note}`, color: "gray" }]);
  const room = Math.max(4, height - extra.length - (notes.length ? notes.length + 1 : 0));
  const blocks = state.ports.map((port, i) => listenerBlock(state, port, i, columns));
  let first = 0;
  // Each block and its blank line; the "more" markers above and below need their own lines.
  const fits = (from: number, to: number) =>
    blocks.slice(from, to + 1).reduce((n, b) => n + b.length + 1, 0) +
        (from > 0 ? 1 : 0) + (to + 1 < blocks.length ? 1 : 0) <= room;
  while (first < state.focus && !fits(first, state.focus)) first++;
  let last = first;
  while (last + 1 < blocks.length && fits(first, last + 1)) last++;
  if (first > 0) lines.push([{ text: ` ↑ ${first} more`, color: "gray" }]);
  for (const block of blocks.slice(first, last + 1)) lines.push(...block, []);
  if (last + 1 < blocks.length) {
    lines.push([{ text: ` ↓ ${blocks.length - last - 1} more`, color: "gray" }]);
  }
  lines.push(...extra);
  if (notes.length > 0 && lines.length + notes.length + 1 <= height) lines.push([], ...notes);
  return lines;
}

function listenerBlock(
  state: ConsoleState,
  port: PortState,
  index: number,
  columns: number,
): ScreenLine[] {
  const focused = index === state.focus;
  const where = `${port.protocol ?? "port"} ${port.bind ?? ""}${port.bind ? ":" : ":"}${port.port}`;
  const head: Segment[] = [
    { text: focused ? " ▸ " : "   ", color: "cyan" },
    { text: fit(where, 24), bold: true },
  ];
  const exit = port.exit;
  if (!exit) {
    head.push({ text: " looking for an exit…", color: "yellow" });
  } else {
    const candidate = state.candidates.find((c) => c.peerId === exit.peerId);
    const place = [candidate?.attributes?.country, candidate?.attributes?.city]
      .filter(Boolean).join(" ");
    head.push(
      { text: " → " },
      { text: shortPeerId(exit.peerId), color: "magenta" },
      {
        text: ` ${sourceLabel(exit.source)}`,
        color: exit.source.kind === "manual" ? "yellow" : "green",
      },
      { text: place ? `  ${place}` : "" },
    );
  }
  const peer = exit ? state.peers[exit.peerId] : undefined;
  const route = peer?.address
    ? `${peer.relayed ? "relayed" : "direct"} ${transportOf(peer.address)}`
    : "-";
  // Bytes are counted per exit: listeners that share one show its whole traffic, and say so.
  const shared = exit !== undefined &&
    state.ports.some((other) => other !== port && other.exit?.peerId === exit.peerId);
  const details: ScreenLine = [
    {
      text: `     route ${route} · rtt ${formatRtt(peer?.rttMs)} · sessions ${port.sessions} · `,
    },
    { text: `errors ${port.errors}`, ...(port.errors > 0 ? { color: "red" } : {}) },
    { text: shared ? " · shared exit" : "", color: "gray" },
  ];
  const up = port.up.at(-1) ?? 0;
  const down = port.down.at(-1) ?? 0;
  const sparkWidth = Math.max(6, Math.floor((columns - 46) / 2));
  const traffic: ScreenLine = [
    { text: `     ↑ ${fit(formatRate(up), 11)}` },
    { text: sparkline(port.up, sparkWidth), color: "green" },
    { text: `   ↓ ${fit(formatRate(down), 11)}` },
    { text: sparkline(port.down, sparkWidth), color: "cyan" },
  ];
  const block = [head, details, traffic];
  if (port.lastError && port.errors > 0) {
    block.push([{ text: `     last error: ${port.lastError}`, color: "red" }]);
  }
  return block;
}

/** The demo's hub and exits, one line each, under its listeners. */
function roleSummary(state: ConsoleState): ScreenLine[] {
  const lines: ScreenLine[] = [];
  if (state.hub) {
    lines.push([{
      text:
        ` hub   ${state.hub.registeredExits} exits registered · ${state.hub.relayReservations}` +
        ` relay reservations · ${formatPerSec(state.hub.lookupsPerSec)} lookups/s`,
    }]);
  }
  lines.push([{
    text: ` exits ${state.exit.active} sessions · ${state.exit.total} since start · denied ` +
      describeCounts(state.exit.denials),
  }]);
  return lines;
}

function exitOverview(state: ConsoleState, now: number): ScreenLine[] {
  const exit = state.exit;
  const hubs = Object.entries(exit.hubs);
  return [
    [{ text: " Sessions   ", bold: true }, {
      text: `${exit.active} running · ${exit.total} since start`,
    }],
    [{ text: " Traffic    ", bold: true }, {
      text: `↑ ${formatBytes(exit.bytesUp)} to destinations · ↓ ${
        formatBytes(exit.bytesDown)
      } back (ended sessions)`,
    }],
    [{ text: " Denied     ", bold: true }, {
      text: describeCounts(exit.denials),
      ...(describeCounts(exit.denials) !== "none" ? { color: "yellow" } : {}),
    }],
    [],
    [{ text: " Hub registration", bold: true }],
    ...(hubs.length === 0
      ? [[{ text: "   no attempt yet (or no hub in `bootstrap`)", color: "gray" }] as ScreenLine]
      : hubs.map(([hub, status]): ScreenLine =>
        status.registered
          ? [
            { text: `   ${shortPeerId(hub)}  ` },
            { text: "registered", color: "green" },
            { text: ` · last renewed ${ago(now - status.at)}` },
          ]
          : [
            { text: `   ${shortPeerId(hub)}  ` },
            { text: `failing (${status.failures} in a row)`, color: "red" },
            { text: `: ${status.error ?? "unknown error"}` },
          ]
      )),
  ];
}

function hubOverview(state: ConsoleState): ScreenLine[] {
  const hub = state.hub;
  if (!hub) return [[{ text: " Waiting for the hub's first report (every 5 s)…", color: "gray" }]];
  return [
    [{ text: " Registered exits    ", bold: true }, { text: String(hub.registeredExits) }],
    [{ text: " Relay reservations  ", bold: true }, { text: String(hub.relayReservations) }],
    [{ text: " Lookups/s           ", bold: true }, {
      text: `${formatPerSec(hub.lookupsPerSec)} (${hub.lookups} since start)`,
    }],
    [{ text: " Registrations       ", bold: true }, {
      text: `${hub.registrations} since start · ${hub.expiredExits} expired`,
    }],
    [{ text: " Refused requests    ", bold: true }, {
      text: describeCounts(hub.errors),
      ...(describeCounts(hub.errors) !== "none" ? { color: "yellow" } : {}),
    }],
  ];
}

// --- Network --------------------------------------------------------------------------------

function networkBody(
  state: ConsoleState,
  now: number,
  columns: number,
  height: number,
): ScreenLine[] {
  const port = state.ports[state.focus];
  if (!port) return [[{ text: " No listener yet.", color: "gray" }]];
  const lines: ScreenLine[] = [];
  const name = port.name ?? `port ${port.port}`;
  const using = port.exit
    ? `uses ${shortPeerId(port.exit.peerId)} (${sourceLabel(port.exit.source)})`
    : "has no exit yet";
  lines.push([
    { text: " Exits for " },
    { text: name, bold: true },
    { text: state.ports.length > 1 ? " (←→)" : "", color: "gray" },
    { text: ` · ${using}` },
    {
      text: state.candidatesLoading
        ? " · asking the hub…"
        : state.candidatesAt !== undefined
        ? ` · hub ${ago(now - state.candidatesAt)}`
        : "",
      color: "gray",
    },
  ]);
  if (!state.canChoose) {
    lines.push([{ text: " Choosing by hand needs the proxy's exit control.", color: "gray" }]);
  }
  if (state.candidatesProblem) {
    lines.push([{ text: ` ${state.candidatesProblem}`, color: "yellow" }]);
  }
  const listed = candidatesOfFocus(state);
  const cityWidth = Math.max(8, columns - 67);
  lines.push([{
    text: `     ${fit("PEER", 14)}${fit("CC", 4)}${fit("CITY", cityWidth + 1)}${fit("ASN", 9)}` +
      `${fit("RTT", 7)}${fit("BW", 10)}ROUTE`,
    color: "gray",
  }]);
  if (listed.length === 0) {
    lines.push([{
      text: state.candidatesLoading || state.candidatesAt === undefined
        ? "     Asking the hub for candidates…"
        : "     The hub offers no exit for this listener.",
      color: "gray",
    }]);
    return lines;
  }
  const room = Math.max(1, height - lines.length);
  const first = Math.max(0, Math.min(state.cursor - room + 1, listed.length - room));
  for (const [i, candidate] of listed.slice(first, first + room).entries()) {
    const index = first + i;
    const attributes = candidate.attributes;
    const used = port.exit?.peerId === candidate.peerId;
    const peer = state.peers[candidate.peerId];
    const route = candidate.relayedOnly ? "relay" : "direct";
    const text = `${fit(shortPeerId(candidate.peerId), 13)} ${fit(attributes?.country ?? "-", 4)}` +
      `${fit(attributes?.city ?? "-", cityWidth + 1)}` +
      `${fit(attributes?.asn === undefined ? "-" : `AS${attributes.asn}`, 9)}` +
      `${fit(formatRtt(peer?.rttMs), 7)}` +
      `${fit(attributes ? formatBandwidth(attributes.bandwidthBps) : "-", 10)}${route}`;
    const cursor = index === state.cursor;
    lines.push([
      { text: cursor ? " ▸ " : "   ", color: "cyan" },
      { text: used ? "● " : "  ", color: "green" },
      { text, ...(cursor ? { inverse: true } : {}) },
    ]);
  }
  return lines;
}

// --- Logs -----------------------------------------------------------------------------------

const LEVEL_TAGS: Record<ConsoleLogLevel, readonly [string, Color | undefined]> = {
  trace: ["TRC", "gray"],
  debug: ["DBG", "gray"],
  info: ["INF", undefined],
  warning: ["WRN", "yellow"],
  error: ["ERR", "red"],
  fatal: ["FTL", "red"],
};

/** Rows one log line may take: long messages wrap, very long ones are cut. */
const MAX_ROWS_PER_LOG_LINE = 4;

/** Width of the time, level and category columns before a message. */
const LOG_PREFIX_CHARS = 27;

function logsBody(state: ConsoleState, columns: number, height: number): ScreenLine[] {
  const lines = visibleLogs(state);
  const room = Math.max(1, height - 1);
  const end = Math.max(0, lines.length - state.logScroll);
  const position = state.logScroll === 0
    ? "following"
    : `${state.logScroll} lines up · End follows`;
  const header: ScreenLine = [{
    text: ` ${lines.length} lines at ${state.logLevel} or above (of ${state.logs.length}) · ` +
      position,
    color: "gray",
  }];
  // From the newest shown line upward, each wrapped under its prefix, until the screen is full.
  const rows: ScreenLine[] = [];
  const width = Math.max(10, columns - LOG_PREFIX_CHARS);
  for (let i = end - 1; i >= 0 && rows.length < room; i--) {
    const line = lines[i]!;
    const [tag, color] = LEVEL_TAGS[line.level];
    const style = color ? { color } : {};
    const chunks = wrap(line.message.replaceAll(/\s+/g, " "), width, MAX_ROWS_PER_LOG_LINE);
    const block: ScreenLine[] = chunks.map((chunk, n) =>
      n === 0
        ? [
          { text: ` ${clockTime(line.at)} `, color: "gray" },
          { text: `${tag} `, ...style },
          { text: `${fit(line.category || "-", 12)} `, color: "gray" },
          { text: chunk, ...style },
        ]
        : [{ text: " ".repeat(LOG_PREFIX_CHARS) }, { text: chunk, ...style }]
    );
    rows.unshift(...block.slice(Math.max(0, block.length - (room - rows.length))));
  }
  return [header, ...rows].map((line) => clip(line, columns));
}

/** `text` in pieces of at most `width` characters, broken at spaces where it can; at most `max`. */
function wrap(text: string, width: number, max: number): string[] {
  const pieces: string[] = [];
  let rest = [...text];
  while (rest.length > 0 && pieces.length < max) {
    if (rest.length <= width) {
      pieces.push(rest.join(""));
      break;
    }
    const space = rest.lastIndexOf(" ", width);
    const cut = space > width / 2 ? space : width;
    if (pieces.length === max - 1) {
      pieces.push(rest.slice(0, width - 1).join("") + "…");
      break;
    }
    pieces.push(rest.slice(0, cut).join(""));
    rest = rest.slice(space === cut ? cut + 1 : cut);
  }
  return pieces;
}

// --- helpers --------------------------------------------------------------------------------

function describeCounts(counts: Readonly<Record<string, number>>): string {
  const entries = Object.entries(counts).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  return entries.length === 0 ? "none" : entries.map(([k, n]) => `${k} ${n}`).join(" · ");
}

function formatPerSec(value: number | undefined): string {
  return value === undefined ? "-" : value < 10 ? value.toFixed(1) : String(Math.round(value));
}

/** Cuts a line to `columns` characters (by code point), keeping styles. */
function clip(line: ScreenLine, columns: number): ScreenLine {
  const out: Segment[] = [];
  let left = columns;
  for (const segment of line) {
    if (left <= 0) break;
    const chars = [...segment.text];
    if (chars.length <= left) {
      out.push(segment);
      left -= chars.length;
    } else {
      out.push({ ...segment, text: chars.slice(0, left - 1).join("") + "…" });
      left = 0;
    }
  }
  return out;
}
