/**
 * The terminal UI in a real terminal: a proxy runs inside tmux (a real pty,
 * 80×24) under exactly the line `p2proxy permissions proxy` prints, with a
 * hub and two exits leaving from 127.0.0.2 and 127.0.0.3. Keys go in with
 * `send-keys`, the screen comes back with `capture-pane`:
 *
 * - `1` `2` `3` and Tab switch tabs;
 * - arrows + Enter on the Network tab choose the other exit, and a curl
 *   through the proxy then leaves from that exit's address;
 * - Esc goes back to automatic, and the curl leaves from the first exit again;
 * - a resize redraws at the new width;
 * - `q` ends the proxy with exit code 0 and the terminal is restored (normal
 *   screen, canonical mode and echo back on).
 *
 * Needs tmux (`apt-get install tmux`; `.ci/run` installs it) and curl.
 *
 * @module
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { freePort, printedPermissionLine } from "../scripts/cluster.ts";
import { Cluster, metric, pollUntil, startWhoami, type Whoami, whoamiVia } from "./_network.ts";
import { shortPeerId } from "../plugins/tui-ink/format.ts";

const NL = { source: "127.0.0.2", country: "NL", city: "Amsterdam" };
const DE = { source: "127.0.0.3", country: "DE", city: "Berlin" };

/** Bound on both exits being registered with the hub (it reports every 5 s). */
const REGISTERED_MS = 30_000;
/** Bound on the UI showing the proxy with an exit (discovery through the hub). */
const READY_MS = 30_000;
/** Bound on a key's effect reaching the screen. */
const SCREEN_MS = 10_000;
/** Bound on a choice (reaching the peer) or going back to automatic. */
const CHOICE_MS = 20_000;

/** A tmux server of this test's own (its socket in the test's temp dir), running one session. */
class Tmux {
  readonly #socket: string;

  constructor(socket: string) {
    this.#socket = socket;
  }

  async start(command: string, columns: number, rows: number, cwd: string): Promise<void> {
    await this.run(
      "new-session",
      "-d",
      "-s",
      "tui",
      "-x",
      String(columns),
      "-y",
      String(rows),
      "-c",
      cwd,
      command,
    );
  }

  async run(...args: string[]): Promise<string> {
    const output = await new Deno.Command("tmux", {
      args: ["-S", this.#socket, "-f", "/dev/null", ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!output.success) {
      throw new Error(`tmux ${args[0]} failed: ${new TextDecoder().decode(output.stderr)}`);
    }
    return new TextDecoder().decode(output.stdout);
  }

  /** The screen as text (what the operator sees, without colours). */
  capture(): Promise<string> {
    return this.run("capture-pane", "-p", "-t", "tui");
  }

  /** Sends keys by tmux name (`Tab`, `Down`, `Enter`, `Escape`) or as text. */
  async keys(...keys: string[]): Promise<void> {
    for (const key of keys) await this.run("send-keys", "-t", "tui", key);
  }

  /** Polls the screen until `predicate` holds; fails with the last screen. */
  async waitFor(what: string, predicate: (screen: string) => boolean, timeoutMs = SCREEN_MS) {
    let last = "";
    try {
      return await pollUntil(
        async () => {
          last = await this.capture();
          return predicate(last) ? last : undefined;
        },
        timeoutMs,
        what,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}\nLast screen:\n${last}`);
    }
  }

  async close(): Promise<void> {
    await this.run("kill-server").catch(() => {});
  }
}

async function hasTmux(): Promise<boolean> {
  try {
    return (await new Deno.Command("tmux", { args: ["-V"], stdout: "null", stderr: "null" })
      .output()).success;
  } catch {
    return false;
  }
}

/** The lines of `screen` between the Network tab's column header and the status line. */
function candidateRows(screen: string): string[] {
  const lines = screen.split("\n");
  const header = lines.findIndex((line) => /PEER\s+CC\s+CITY/.test(line));
  return header < 0 ? [] : lines.slice(header + 1).filter((line) => /12D3Ko…/.test(line));
}

/** The address the whoami destination sees through `port` (the exit's `bind_address`). */
function leavesFrom(port: number, whoami: Whoami): Promise<string> {
  return whoamiVia(port, whoami, 10);
}

Deno.test("terminal UI in a real pty: tabs, a manual exit, back to automatic, resize, q restores the terminal", async () => {
  assert.ok(
    await hasTmux(),
    "This test drives the UI in a real terminal through tmux: install it (apt-get install tmux).",
  );
  const cluster = new Cluster();
  const whoami = startWhoami();
  const dir = await Deno.makeTempDir({ prefix: "p2proxy-tui-" });
  const tmux = new Tmux(`${dir}/tmux.sock`);
  try {
    const hub = await cluster.hub();
    const exits = await Promise.all(
      [NL, DE].map((e) =>
        cluster.exit(e.source, hub, { attributes: { country: e.country, city: e.city } })
      ),
    );
    const sourceOf = new Map(exits.map((exit, i) => [exit.peerId, [NL, DE][i]!.source]));
    // Both registered before the proxy asks: its first discovery then finds them.
    await pollUntil(
      async () => await metric(hub.metricsPort, "p2proxy_hub_registered_exits") >= 2 || undefined,
      REGISTERED_MS,
      "both exits registered with the hub",
    );
    const socksPort = freePort();
    await Deno.writeTextFile(
      `${dir}/Config.yaml`,
      stringify({
        state_dir: "state",
        listen_addrs: [`/ip4/127.0.0.1/tcp/${freePort()}`],
        bootstrap: [hub.address],
        metrics_port: 0,
        log_level: "info",
        servers: [{ port: socksPort }],
      }),
    );
    const line = await printedPermissionLine(["proxy", "-c", "Config.yaml"], { cwd: dir });
    assert.match(line, /^deno run --no-prompt /);
    const command = line.replace(/^deno /, `'${Deno.execPath()}' `);
    // After the proxy ends: its exit code, and whether the terminal is back in canonical mode.
    await tmux.start(
      `${command}; echo "EXIT=$?"; stty -a | tr ' ;' '\\n\\n' | grep -x -E -- '-?(icanon|echo)'; ` +
        "echo TTY-CHECKED; sleep 600",
      80,
      24,
      dir,
    );

    const overview = await tmux.waitFor(
      "the overview with an exit",
      (s) => /p2proxy proxy/.test(s) && /→ 12D3Ko…\S+ discovered/.test(s),
      READY_MS,
    );
    assert.match(overview, new RegExp(`▸ mixed 127\\.0\\.0\\.1:${socksPort}`));
    for (const text of overview.split("\n")) assert.ok([...text].length <= 80, text);

    const first = await leavesFrom(socksPort, whoami);
    const firstExit = exits.find((e) => sourceOf.get(e.peerId) === first);
    const otherExit = exits.find((e) => e !== firstExit);
    assert.ok(firstExit && otherExit, `left from ${first}, not from an exit`);

    await tmux.keys("3");
    await tmux.waitFor("the Logs tab", (s) => /lines at info or above/.test(s));
    await tmux.keys("Tab");
    await tmux.waitFor("Tab back to the Overview", (s) => /route direct tcp/.test(s));
    await tmux.keys("2");
    const network = await tmux.waitFor(
      "both exits listed on the Network tab",
      (s) => candidateRows(s).length === 2,
    );
    assert.match(network, new RegExp(`Exits for mixed-${socksPort}`));

    const rows = candidateRows(network);
    const cursor = rows.findIndex((row) => row.includes("▸"));
    const target = rows.findIndex((row) => row.includes(shortPeerId(otherExit.peerId)));
    assert.ok(cursor >= 0 && target >= 0, network);
    const move = target > cursor ? "Down" : "Up";
    for (let i = 0; i < Math.abs(target - cursor); i++) await tmux.keys(move);
    await tmux.keys("Enter");
    await tmux.waitFor(
      "the manual choice",
      (s) => s.includes(`now leaves through ${shortPeerId(otherExit.peerId)} (manual)`),
      CHOICE_MS,
    );
    assert.equal(await leavesFrom(socksPort, whoami), sourceOf.get(otherExit.peerId));

    await tmux.keys("Escape");
    await tmux.waitFor("back to automatic", (s) => /chooses automatically/.test(s), CHOICE_MS);
    assert.equal(await leavesFrom(socksPort, whoami), first);

    await tmux.run("resize-window", "-t", "tui", "-x", "100", "-y", "30");
    await tmux.waitFor("a redraw at 100 columns", (s) => s.split("\n")[1] === "─".repeat(100));

    await tmux.keys("q");
    const after = await tmux.waitFor("the proxy's exit", (s) => /TTY-CHECKED/.test(s));
    assert.match(after, /EXIT=0/);
    assert.doesNotMatch(after, /p2proxy proxy .* 1 Overview/, "the UI's screen is gone");
    assert.match(after, /^icanon$/m, "canonical mode is back");
    assert.match(after, /^echo$/m, "echo is back");
    assert.equal(
      (await tmux.run("display-message", "-p", "-t", "tui", "#{alternate_on}")).trim(),
      "0",
    );
  } finally {
    await tmux.close();
    await cluster.close();
    await whoami.close();
    await Deno.remove(dir, { recursive: true });
  }
});
