/**
 * The ink components: they paint the lines `renderScreen` computes and turn
 * key presses and terminal resizes into inputs of the console's state. Loaded
 * only when a console opens (ink and react read the environment as they load).
 *
 * @module
 */
// @ts-types="@types/react"
import React from "react";
import { Box, type Key, render, Text, useInput, useStdin, useWindowSize } from "ink";
import type { ConsoleKey, ConsoleState } from "./console_state.ts";
import { renderScreen, type ScreenLine } from "./screen.ts";

const h = React.createElement;

/** What the components read and where they send keys and sizes. */
export interface ConsoleStore {
  /** The state to paint. */
  state(): ConsoleState;
  /** The time to paint it at (ms since the epoch). */
  now(): number;
  /** Calls `listener` (throttled) whenever the state changed; returns the unsubscribe. */
  subscribe(listener: () => void): () => void;
  /** A key press. */
  key(key: ConsoleKey): void;
  /** The terminal's new size. */
  resize(columns: number, rows: number): void;
}

/** A mounted console. */
export interface MountedConsole {
  /** Unmounts (restoring the terminal: raw mode off, the normal screen back). */
  unmount(): Promise<void>;
}

/**
 * Mounts the console on this process's terminal: the alternate screen (so the
 * shell's screen comes back on exit), changed lines only, at most `maxFps`
 * frames a second, Ctrl-C handled as a key.
 */
export function mountConsole(store: ConsoleStore, maxFps: number): MountedConsole {
  const instance = render(h(ConsoleApp, { store }), {
    // The console only starts on a terminal the operator asked it for; Ink would otherwise
    // fall back to printing nothing but the last frame whenever a CI variable is set.
    interactive: true,
    alternateScreen: true,
    incrementalRendering: true,
    exitOnCtrlC: false,
    patchConsole: false,
    maxFps,
  });
  let unmounted: Promise<void> | undefined;
  return {
    unmount() {
      unmounted ??= (async () => {
        instance.unmount();
        await instance.waitUntilExit().catch(() => {});
      })();
      return unmounted;
    },
  };
}

function ConsoleApp({ store }: { readonly store: ConsoleStore }) {
  const [, redraw] = React.useReducer((n: number) => n + 1, 0);
  React.useEffect(() => store.subscribe(redraw), [store]);
  // ink re-renders on a resize; the layout follows the new size.
  const { columns, rows } = useWindowSize();
  React.useEffect(() => store.resize(columns, rows), [columns, rows, store]);
  // Without a terminal on stdin there is no raw mode: the screen still updates, keys do nothing.
  const { isRawModeSupported } = useStdin();
  useInput((input, key) => store.key(toConsoleKey(input, key)), {
    isActive: isRawModeSupported === true,
  });
  const lines = renderScreen(store.state(), store.now());
  return h(Box, { flexDirection: "column" }, ...lines.map((line, i) => h(Line, { key: i, line })));
}

function Line({ line }: { readonly line: ScreenLine }) {
  if (line.length === 0) return h(Text, null, " ");
  return h(
    Text,
    { wrap: "truncate" },
    ...line.map((segment, i) =>
      h(Text, {
        key: i,
        ...(segment.color ? { color: segment.color } : {}),
        ...(segment.bold ? { bold: true } : {}),
        ...(segment.inverse ? { inverse: true } : {}),
      }, segment.text)
    ),
  );
}

/** ink's key flags as the console's key names. */
export function toConsoleKey(input: string, key: Key): ConsoleKey {
  const name = key.tab
    ? "tab"
    : key.upArrow
    ? "up"
    : key.downArrow
    ? "down"
    : key.leftArrow
    ? "left"
    : key.rightArrow
    ? "right"
    : key.return
    ? "enter"
    : key.escape
    ? "escape"
    : key.pageUp
    ? "pageUp"
    : key.pageDown
    ? "pageDown"
    : key.home
    ? "home"
    : key.end
    ? "end"
    : undefined;
  return {
    input: name ? "" : input,
    ...(name ? { name } : {}),
    ...(key.ctrl ? { ctrl: true } : {}),
    ...(key.shift ? { shift: true } : {}),
  };
}
