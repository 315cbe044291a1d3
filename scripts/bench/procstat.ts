/**
 * Linux /proc readings of the measured processes (CPU time, peak and
 * current RSS, open file descriptors) and a description of the machine.
 *
 * @module
 */

/** CPU seconds (user + system, all threads) a process has used so far. */
export async function cpuSeconds(pid: number, clockTicksPerSecond: number): Promise<number> {
  const text = await Deno.readTextFile(`/proc/${pid}/stat`);
  // The command name (field 2) may contain spaces and parentheses: split after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 of proc(5) are utime and stime; fields[0] here is field 3.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error(`Cannot read CPU times from /proc/${pid}/stat: "${text.trim()}".`);
  }
  return (utime + stime) / clockTicksPerSecond;
}

/** Memory figures of a process, in bytes. */
export interface MemoryReading {
  /** Peak resident set size (VmHWM). */
  readonly peakRssBytes: number;
  /** Current resident set size (VmRSS). */
  readonly rssBytes: number;
}

/** Reads VmHWM and VmRSS from /proc/<pid>/status. */
export async function memory(pid: number): Promise<MemoryReading> {
  const text = await Deno.readTextFile(`/proc/${pid}/status`);
  const kib = (key: string) => {
    const match = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text);
    if (!match) throw new Error(`/proc/${pid}/status has no ${key} line.`);
    return Number(match[1]) * 1024;
  };
  return { peakRssBytes: kib("VmHWM"), rssBytes: kib("VmRSS") };
}

/** Open file descriptors of a process, and how many of them are sockets. */
export async function fdCount(pid: number): Promise<{ total: number; sockets: number }> {
  let total = 0;
  let sockets = 0;
  for await (const entry of Deno.readDir(`/proc/${pid}/fd`)) {
    total++;
    try {
      if ((await Deno.readLink(`/proc/${pid}/fd/${entry.name}`)).startsWith("socket:")) sockets++;
    } catch { /* closed while we looked */ }
  }
  return { total, sockets };
}

/** The clock ticks per second that /proc/<pid>/stat counts in (`getconf CLK_TCK`). */
export async function clockTicksPerSecond(): Promise<number> {
  try {
    const output = await new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped" })
      .output();
    const ticks = Number(new TextDecoder().decode(output.stdout).trim());
    if (output.success && Number.isInteger(ticks) && ticks > 0) return ticks;
  } catch { /* no getconf: fall through */ }
  // USER_HZ is 100 on every mainstream Linux build.
  return 100;
}

/** What the bench ran on. */
export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly deno: string;
  readonly v8: string;
  readonly curl: string;
}

/** Reads the CPU model, core count, memory, kernel and tool versions. */
export async function machineInfo(): Promise<MachineInfo> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown";
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const memKib = Number(/^MemTotal:\s+(\d+) kB/m.exec(meminfo)?.[1] ?? 0);
  const kernel = (await Deno.readTextFile("/proc/sys/kernel/osrelease").catch(() => "")).trim();
  return {
    cpuModel: model,
    cores: navigator.hardwareConcurrency,
    memoryGiB: Math.round((memKib / 1024 / 1024) * 10) / 10,
    kernel,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    curl: await curlVersion(),
  };
}

async function curlVersion(): Promise<string> {
  try {
    const output = await new Deno.Command("curl", { args: ["--version"], stdout: "piped" })
      .output();
    return new TextDecoder().decode(output.stdout).split("\n")[0]?.split(" ")[1] ?? "unknown";
  } catch {
    return "missing";
  }
}

/** The 1-, 5- and 15-minute load averages (other work on the machine makes figures noisy). */
export async function loadAverage(): Promise<[number, number, number]> {
  const text = await Deno.readTextFile("/proc/loadavg").catch(() => "0 0 0");
  const [a, b, c] = text.split(" ").map(Number);
  return [a ?? 0, b ?? 0, c ?? 0];
}
