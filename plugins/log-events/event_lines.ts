/**
 * What each event looks like as a log line: its level, its message template
 * (logtape `{placeholders}`), its structured properties, and for problem
 * lines the key under which repeats are throttled.
 *
 * @module
 */
import type { LogLevel } from "@logtape/logtape";
import type { P2ProxyEvent, P2ProxyEventType } from "../../core/events.ts";
import { LOGGED_TEXT_MAX_CHARS } from "./constants.ts";

/** One log line. */
export interface EventLine {
  /** Message template; `{name}` is filled from `properties`. */
  readonly message: string;
  /** Structured fields (for JSON-lines output); every line has `event`, the event type. */
  readonly properties: Readonly<Record<string, unknown>>;
  /** Repeats of a line with this key within the throttle window are counted, not written. */
  readonly throttleKey?: string;
}

type EventOf<T extends P2ProxyEventType> = Extract<P2ProxyEvent, { type: T }>;

/** How one event type is logged. */
export interface LineRule<T extends P2ProxyEventType> {
  /** The level of the line. */
  readonly level: LogLevel;
  /**
   * Builds the line; only called when the level is enabled. Undefined: this
   * event is not logged (another line already says it).
   */
  readonly line: (event: EventOf<T>) => EventLine | undefined;
}

/**
 * The rule of every event type; `undefined` means never logged (`bandwidth`
 * arrives about once a second per exit and carries no news). Per-connection
 * events are at `trace` so that they cost one level check unless asked for.
 * Adding an event type without deciding here fails to compile.
 *
 * Each fact is logged once, by the code that decides it: an event that only
 * mirrors such a line (the exit a port now uses, a failed CONNECT) is not
 * logged again here.
 */
export const LINE_RULES: { readonly [T in P2ProxyEventType]: LineRule<T> | undefined } = {
  "local-peer-id": {
    level: "info",
    line: (e) => line(e, "This node's peer id is {peerId}.", { peerId: e.peerId }),
  },
  "connection-connecting": {
    level: "debug",
    line: (e) =>
      e.port === undefined
        ? line(e, "Looking for an exit.", {})
        : line(e, "Port {port}: looking for an exit.", { port: e.port }),
  },
  "connection-connected": {
    level: "info",
    line: (e) =>
      line(e, "Connected to {peerId} at {address} ({route}).", {
        peerId: e.peerId,
        address: clip(e.address),
        route: routeOf(e.relayed),
      }),
  },
  "connection-disconnected": {
    level: "info",
    line: (e) => line(e, "Disconnected from {peerId}.", { peerId: e.peerId }),
  },
  "session-new": {
    level: "debug",
    line: (e) =>
      line(e, "Session {sessionId} on port {port}: {target} through {peerId}.", {
        sessionId: e.sessionId,
        port: e.port,
        target: clip(e.target),
        peerId: e.peerId,
      }),
  },
  "session-end": {
    level: "debug",
    line: (e) => {
      const fields = {
        sessionId: e.sessionId,
        port: e.port,
        peerId: e.peerId,
        bytesUp: e.bytesUp,
        bytesDown: e.bytesDown,
      };
      if (!e.error) {
        return line(
          e,
          "Session {sessionId} on port {port} ended: {bytesUp} bytes up, {bytesDown} bytes down.",
          fields,
        );
      }
      return line(
        e,
        "Session {sessionId} on port {port} ended at {stage}: {error} " +
          "({bytesUp} bytes up, {bytesDown} bytes down).",
        { ...fields, stage: clip(e.error.stage), error: clip(e.error.message) },
      );
    },
  },
  "bandwidth": undefined,
  // Usage goes to the metrics, the admin API and the hourly file, not the log.
  "account-usage": undefined,
  "hub-stats": undefined,
  // The registrar logs each registration and failure itself, with the retry delay.
  "hub-registration": undefined,
  "error": {
    level: "warning",
    line: (e) => {
      const message = clip(e.message);
      return e.port === undefined ? line(e, "{message}", { message }, `error|-|${message}`) : line(
        e,
        "Port {port}: {message}",
        { port: e.port, message },
        `error|${e.port}|${message}`,
      );
    },
  },
  "server-pool": {
    level: "debug",
    line: (e) =>
      line(e, "Port {port}: {count} candidate exits.", { port: e.port, count: e.peers.length }),
  },
  "peer-route": {
    level: "debug",
    line: (e) =>
      line(e, "Route to {peerId}: {address} ({route}).", {
        peerId: e.peerId,
        address: clip(e.address),
        route: routeOf(e.relayed),
      }),
  },
  // The discovery actor logs each change of a port's exit where it makes it.
  "active-destination": undefined,
  "pinned-statuses": {
    level: "debug",
    line: (e) =>
      line(e, "Port {port}: {resolvable} of {count} pinned exits resolvable.", {
        port: e.port,
        resolvable: e.statuses.filter((s) => s.resolvable).length,
        count: e.statuses.length,
      }),
  },
  "sticky-pool": {
    level: "debug",
    line: (e) =>
      line(e, "Port {port}: {count} exits remembered.", { port: e.port, count: e.peers.length }),
  },
  "socks-accepted": {
    level: "trace",
    line: (e) => line(e, "Port {port}: SOCKS client accepted.", { port: e.port }),
  },
  "socks-rejected": {
    level: "info",
    line: (e) =>
      // No exit for the client: the SOCKS listener logs that CONNECT with its cause.
      e.reason === "no-peer" ? undefined : line(
        e,
        "Port {port} turned a SOCKS client away ({reason}).",
        { port: e.port, reason: e.reason },
        `socks-rejected|${e.port}|${e.reason}`,
      ),
  },
  // The SOCKS listener logs every failed CONNECT with its target and cause.
  "session-failed": undefined,
  // The discovery actor logs the move itself, with the session's context.
  "session-moved": undefined,
  "jit-discovery": {
    level: "debug",
    line: (e) =>
      line(e, "Port {port}: a client is waiting for an exit; discovering one.", { port: e.port }),
  },
  "stream-opened": {
    level: "trace",
    line: (e) =>
      line(e, "Opened a stream to {peerId} in {durationMs} ms.", {
        peerId: e.peerId,
        durationMs: Math.round(e.durationMs),
      }),
  },
  "stream-open-failed": {
    level: "warning",
    line: (e) => {
      const code = clip(e.code);
      return line(
        e,
        "Could not open a stream to {peerId} ({code}) after {durationMs} ms.",
        { peerId: e.peerId, code, durationMs: Math.round(e.durationMs) },
        `stream-open-failed|${e.peerId}|${code}`,
      );
    },
  },
  // The QUIC network plugin logs each choice of transport where it makes it.
  "transport-selected": undefined,
  "ping": {
    level: "trace",
    line: (e) => line(e, "Ping {peerId}: {rttMs} ms.", { peerId: e.peerId, rttMs: e.rttMs }),
  },
  "ping-failed": {
    level: "warning",
    line: (e) =>
      line(
        e,
        "{peerId} missed a ping (strike {strikes}).",
        { peerId: e.peerId, strikes: e.strikes },
        `ping-failed|${e.peerId}`,
      ),
  },
  "exit-session-start": {
    level: "debug",
    line: (e) =>
      line(e, "Exit session {sessionId} for {peerId}: {target}.", {
        sessionId: e.sessionId,
        peerId: e.peerId,
        target: clip(e.target),
      }),
  },
  "exit-session-end": {
    level: "debug",
    line: (e) =>
      line(e, "Exit session {sessionId} ended: {bytesUp} bytes up, {bytesDown} bytes down.", {
        sessionId: e.sessionId,
        peerId: e.peerId,
        bytesUp: e.bytesUp,
        bytesDown: e.bytesDown,
      }),
  },
  "udp-association-start": {
    level: "debug",
    line: (e) =>
      line(e, "UDP association {sessionId} started at the {side} (peer {peerId}).", {
        sessionId: e.sessionId,
        side: e.side,
        peerId: e.peerId,
      }),
  },
  "udp-association-end": {
    level: "debug",
    line: (e) =>
      line(
        e,
        "UDP association {sessionId} ended ({reason}): {datagramsUp} datagrams up, " +
          "{datagramsDown} down, {dropped} dropped.",
        {
          sessionId: e.sessionId,
          side: e.side,
          peerId: e.peerId,
          reason: clip(e.reason),
          datagramsUp: e.datagramsUp,
          datagramsDown: e.datagramsDown,
          bytesUp: e.bytesUp,
          bytesDown: e.bytesDown,
          dropped: e.dropped,
        },
      ),
  },
  "exit-denied": {
    level: "info",
    // Keyed without the target: a proxy scanning many destinations is one flood, not many.
    line: (e) => {
      const reason = clip(e.reason);
      return line(
        e,
        "Refused {target} for {peerId}: {message}",
        { target: clip(e.target), peerId: e.peerId, reason, message: clip(e.message ?? reason) },
        `exit-denied|${e.peerId}|${reason}`,
      );
    },
  },
};

/** The rule of an event's type (one lookup; the cast is what the mapped table guarantees). */
export function ruleOf(event: P2ProxyEvent): LineRule<P2ProxyEventType> | undefined {
  return LINE_RULES[event.type] as LineRule<P2ProxyEventType> | undefined;
}

/** Cuts text longer than `LOGGED_TEXT_MAX_CHARS`, never inside a surrogate pair. */
export function clip(text: string): string {
  if (text.length <= LOGGED_TEXT_MAX_CHARS) return text;
  let end = LOGGED_TEXT_MAX_CHARS;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

function routeOf(relayed: boolean): string {
  return relayed ? "relayed" : "direct";
}

function line(
  event: P2ProxyEvent,
  message: string,
  fields: Record<string, unknown>,
  throttleKey?: string,
): EventLine {
  const properties = { event: event.type, ...fields };
  return throttleKey === undefined ? { message, properties } : { message, properties, throttleKey };
}
