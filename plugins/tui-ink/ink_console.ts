/**
 * The terminal console: an event sink that keeps the screen's state from the
 * moment the plugin is created, and — once opened — paints it with ink, runs
 * what the keys ask for through the proxy's exit control, and redraws at most
 * `maxFps` times a second however fast events arrive.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { describeError, P2proxyError } from "../../core/errors.ts";
import type { P2ProxyEvent } from "../../core/events.ts";
import type { PeerId } from "../../core/ids.ts";
import type { Clock } from "../../core/ports/clock.ts";
import type { ExitControl } from "../../core/ports/exit_control.ts";
import type {
  ConsoleLogLine,
  ConsoleSession,
  ConsoleView,
  OperatorConsole,
} from "../../core/ports/operator_console.ts";
import {
  AUTOMATIC_WAIT_MS,
  CANDIDATES_TIMEOUT_MS,
  DEFAULT_LOG_LINES,
  DEFAULT_MAX_FPS,
  TICK_INTERVAL_MS,
} from "./constants.ts";
import {
  type ConsoleCommand,
  type ConsoleInput,
  type ConsoleKey,
  type ConsoleState,
  initialState,
  step,
} from "./console_state.ts";
import { shortPeerId, sourceLabel } from "./format.ts";

const logger = getLogger(["p2proxy", "tui"]);

/** Who the exit control's log lines name as the chooser. */
const CHOOSER = "terminal UI";

/** Options of {@link InkConsole}. */
export interface InkConsoleOptions {
  /** Timestamps of events and ticks. */
  readonly clock: Pick<Clock, "now">;
  /** Redraws per second at most (default {@link DEFAULT_MAX_FPS}). */
  readonly maxFps?: number;
  /** Log lines kept (default {@link DEFAULT_LOG_LINES}). */
  readonly maxLogLines?: number;
}

/**
 * The `operator-console` of `@p2proxy/tui-ink`.
 *
 * @example
 * ```ts
 * const ui = new InkConsole({ clock: new SystemClock() });
 * if (ui.supported()) await (await ui.open({ role: "hub" })).quit;
 * ```
 */
export class InkConsole implements OperatorConsole {
  readonly #clock: Pick<Clock, "now">;
  readonly #frameMs: number;
  readonly #maxFps: number;
  #state: ConsoleState;
  #control: ExitControl | undefined;
  readonly #subscribers = new Set<() => void>();
  #lastFrameAt = 0;
  #frameTimer: ReturnType<typeof setTimeout> | undefined;
  #tickTimer: ReturnType<typeof setInterval> | undefined;
  #session: { readonly quit: PromiseWithResolvers<void>; close(): Promise<void> } | undefined;

  /** A console that keeps state from now on; nothing is drawn until `open`. */
  constructor(options: InkConsoleOptions) {
    this.#clock = options.clock;
    this.#maxFps = options.maxFps ?? DEFAULT_MAX_FPS;
    this.#frameMs = 1000 / this.#maxFps;
    this.#state = initialState({ maxLogLines: options.maxLogLines ?? DEFAULT_LOG_LINES });
  }

  /** The state as the screen would show it now (for tests and `renderScreen`). */
  get state(): ConsoleState {
    return this.#state;
  }

  emit(event: P2ProxyEvent): void {
    this.#dispatch({ kind: "event", event, at: this.#clock.now() });
  }

  log(line: ConsoleLogLine): void {
    this.#dispatch({ kind: "log", line });
  }

  supported(): boolean {
    try {
      return Deno.stdin.isTerminal() && Deno.stdout.isTerminal();
    } catch {
      return false;
    }
  }

  async open(view: ConsoleView): Promise<ConsoleSession> {
    if (this.#session) {
      throw new P2proxyError(
        "console-open",
        "The terminal UI is already open: close its session before opening it again.",
      );
    }
    const { mountConsole } = await import("./ink_app.ts");
    this.#control = view.control;
    const { control: _, ...shown } = view;
    const size = terminalSize();
    this.#dispatch({
      kind: "open",
      view: { ...shown, canChoose: view.control !== undefined },
      columns: size.columns,
      rows: size.rows,
      at: this.#clock.now(),
    });
    this.#tickTimer = setInterval(
      () => this.#dispatch({ kind: "tick", at: this.#clock.now() }),
      TICK_INTERVAL_MS,
    );
    const mounted = mountConsole({
      state: () => this.#state,
      now: () => this.#clock.now(),
      subscribe: (listener) => {
        this.#subscribers.add(listener);
        return () => this.#subscribers.delete(listener);
      },
      key: (key: ConsoleKey) => this.#dispatch({ kind: "key", key, at: this.#clock.now() }),
      resize: (columns, rows) => this.#dispatch({ kind: "resize", columns, rows }),
    }, this.#maxFps);
    const quit = Promise.withResolvers<void>();
    let closing: Promise<void> | undefined;
    const close = () => {
      closing ??= (async () => {
        clearInterval(this.#tickTimer);
        clearTimeout(this.#frameTimer);
        this.#frameTimer = undefined;
        this.#subscribers.clear();
        await mounted.unmount();
        this.#session = undefined;
      })();
      return closing;
    };
    this.#session = { quit, close };
    return { quit: quit.promise, close };
  }

  #dispatch(input: ConsoleInput): void {
    let commands: readonly ConsoleCommand[];
    try {
      ({ state: this.#state, commands } = step(this.#state, input));
    } catch (error) {
      // A sink must never throw into the data plane: a bug here costs a frame, not a session.
      logger.debug("The terminal UI could not apply {kind}: {error}", {
        kind: input.kind,
        error: describeError(error),
      });
      return;
    }
    this.#scheduleFrame();
    for (const command of commands) this.#run(command);
  }

  /** Redraws now, or at the next frame slot: at most `maxFps` frames a second. */
  #scheduleFrame(): void {
    if (this.#subscribers.size === 0 || this.#frameTimer !== undefined) return;
    const wait = Math.max(0, this.#lastFrameAt + this.#frameMs - performance.now());
    this.#frameTimer = setTimeout(() => {
      this.#frameTimer = undefined;
      this.#lastFrameAt = performance.now();
      for (const subscriber of this.#subscribers) subscriber();
    }, wait);
  }

  #run(command: ConsoleCommand): void {
    switch (command.kind) {
      case "quit":
        return this.#quit();
      case "refresh":
        return void this.#refresh();
      case "choose":
        return void this.#choose(command.listener, command.peerId);
      case "automatic":
        return void this.#automatic(command.listener);
    }
  }

  #quit(): void {
    const session = this.#session;
    if (!session) return;
    session.close().then(() => session.quit.resolve(), () => session.quit.resolve());
  }

  async #refresh(): Promise<void> {
    const control = this.#control;
    if (!control) return;
    try {
      const report = await control.exits(AbortSignal.timeout(CANDIDATES_TIMEOUT_MS));
      this.#dispatch({ kind: "candidates", report, at: this.#clock.now() });
    } catch (error) {
      this.#dispatch({
        kind: "candidates-failed",
        message: `The hub could not list exits: ${describeError(error)}`,
        at: this.#clock.now(),
      });
    }
  }

  async #choose(listener: string, peerId: PeerId): Promise<void> {
    const control = this.#control;
    if (!control) return;
    let text: string;
    let tone: "ok" | "warn" | "error";
    try {
      const outcome = await control.choose(listener, peerId, { by: CHOOSER });
      switch (outcome.kind) {
        case "selected":
          [text, tone] = [`${listener} now leaves through ${shortPeerId(peerId)} (manual).`, "ok"];
          break;
        case "refused":
          [text, tone] = [`Refused: ${outcome.conflict.message}`, "warn"];
          break;
        case "unreachable":
          [text, tone] = [
            `Could not reach ${shortPeerId(peerId)}; ${listener} keeps its exit.`,
            "error",
          ];
          break;
        case "unknown-listener":
          [text, tone] = [`No listener is called ${listener}.`, "error"];
          break;
      }
    } catch (error) {
      [text, tone] = [`Choosing failed: ${describeError(error)}`, "error"];
    }
    this.#dispatch({ kind: "done", notice: { text, tone }, at: this.#clock.now() });
  }

  async #automatic(listener: string): Promise<void> {
    const control = this.#control;
    if (!control) return;
    let text: string;
    let tone: "ok" | "warn" | "error";
    try {
      const outcome = await control.automatic(
        listener,
        { by: CHOOSER },
        AbortSignal.timeout(AUTOMATIC_WAIT_MS),
      );
      switch (outcome.kind) {
        case "automatic": {
          const exit = outcome.listener.exit;
          [text, tone] = exit
            ? [
              `${listener} chooses automatically: ${shortPeerId(exit.peerId)} (${
                sourceLabel(exit.source)
              }).`,
              "ok",
            ]
            : [`${listener} chooses automatically.`, "ok"];
          break;
        }
        case "searching":
          [text, tone] = [`${listener} is looking for an exit automatically…`, "warn"];
          break;
        case "unknown-listener":
          [text, tone] = [`No listener is called ${listener}.`, "error"];
          break;
      }
    } catch (error) {
      [text, tone] = [`Going back to automatic failed: ${describeError(error)}`, "error"];
    }
    this.#dispatch({ kind: "done", notice: { text, tone }, at: this.#clock.now() });
  }
}

/** The terminal's size, or 80×24 when it cannot be read. */
function terminalSize(): { columns: number; rows: number } {
  try {
    return Deno.consoleSize();
  } catch {
    return { columns: 80, rows: 24 };
  }
}
