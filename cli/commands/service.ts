/**
 * `p2proxy service <role> -c FILE`: prints a systemd unit that runs the role
 * under exactly the line `p2proxy permissions` computes for that config (the
 * same code, cli/commands/permissions.ts), with the state dir systemd makes
 * for it, and systemd's own hardening around it: a throwaway user
 * (DynamicUser), a read-only file system but for the state dir
 * (ProtectSystem=strict), no new privileges, no capabilities, private /tmp
 * and devices, only the socket families the node uses
 * (docs/operations.md#running-as-a-service).
 *
 * @module
 */
import { Argument, type Command } from "commander";
import { isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { multiaddrHostPorts } from "../../core/host_port.ts";
import { loadAuthConfigFile } from "./auth.ts";
import { type ConfigRole, loadRoleConfig } from "../config_file.ts";
import type { CliContext } from "../context.ts";
import { CliExit, EXIT_BAD_USAGE } from "../exit_codes.ts";
import { permissionLine, type PermissionsCommand } from "./permissions.ts";

/** The roles that run as a service (`auth` is `auth serve`). */
const SERVICE_ROLES = ["proxy", "exit", "hub", "auth"] as const;
type ServiceRole = typeof SERVICE_ROLES[number];

/** Where systemd's `StateDirectory=` puts a unit's state. */
const SYSTEMD_STATE_ROOT = "/var/lib";

/** Ports below this need CAP_NET_BIND_SERVICE. */
const FIRST_UNPRIVILEGED_PORT = 1024;

/** Seconds systemd waits after SIGTERM: the 10 s drain (cli/shutdown.ts) and a margin. */
const STOP_TIMEOUT_SECS = 20;

interface ServiceFlags {
  readonly config: string;
  readonly name?: string;
  readonly deno?: string;
  readonly entry?: string;
}

/** Adds the command. */
export function registerService(program: Command, context: CliContext): void {
  program
    .command("service")
    .description(
      "print a systemd unit that runs a role under exactly its `permissions` line, hardened " +
        "(run it from the folder the role would run in)",
    )
    .addArgument(new Argument("<role>", "the role to run").choices([...SERVICE_ROLES]))
    .requiredOption("-c, --config <file>", "the role's config file")
    .option("--name <name>", "the unit's name, also its state dir's (default p2proxy-<role>)")
    .option("--deno <path>", "the deno binary the unit runs (default: this one)")
    .option(
      "--entry <file>",
      "the p2proxy entry point the unit runs (default: this CLI's; needed for a bundle)",
    )
    .action(async (role: ServiceRole, flags: ServiceFlags) => {
      console.log(await serviceUnit(context, role, flags));
    });
}

/** The unit's text. */
async function serviceUnit(
  context: CliContext,
  role: ServiceRole,
  flags: ServiceFlags,
): Promise<string> {
  const name = flags.name ?? `p2proxy-${role}`;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) {
    throw new CliExit(
      EXIT_BAD_USAGE,
      `--name ${JSON.stringify(name)} cannot name a unit and its state dir: use letters, ` +
        "digits, '-', '_' and '.'.",
    );
  }
  const workingDirectory = context.cwd;
  const config = resolve(workingDirectory, flags.config);
  const stateDir = join(SYSTEMD_STATE_ROOT, name);
  const line = await permissionLine(context, role as PermissionsCommand, { config, stateDir });
  const deno = absolutePath(flags.deno ?? Deno.execPath(), "--deno", workingDirectory);
  const entry = entryPath(flags.entry ?? context.entry, workingDirectory);
  const execStart = [deno, "run", ...line.permissionFlags, entry, ...line.commandWords];
  const lowPorts = (await listeningPorts(role, config, stateDir))
    .filter((port) => port > 0 && port < FIRST_UNPRIVILEGED_PORT);
  const capabilities = lowPorts.length > 0 ? "CAP_NET_BIND_SERVICE" : "";
  return [
    `# ${name}.service — written by \`p2proxy service ${role}\`. Install it with:`,
    `#   sudo cp ${name}.service /etc/systemd/system/ && sudo systemctl daemon-reload`,
    `#   sudo systemctl enable --now ${name}`,
    "# ExecStart is `p2proxy permissions` for this config, word for word; the config, the",
    "# entry point and deno must be readable by any user (DynamicUser runs it as a throwaway one).",
    "[Unit]",
    `Description=p2proxy ${role === "auth" ? "auth service" : role} (${config})`,
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=exec",
    `ExecStart=${execStart.map(systemdQuote).join(" ")}`,
    `WorkingDirectory=${systemdQuote(workingDirectory)}`,
    "Restart=on-failure",
    "RestartSec=5s",
    `TimeoutStopSec=${STOP_TIMEOUT_SECS}s`,
    "",
    "# Who it runs as, and what it may write: only its state dir.",
    "DynamicUser=yes",
    `StateDirectory=${name}`,
    "StateDirectoryMode=0700",
    "UMask=0077",
    "ProtectSystem=strict",
    "ProtectHome=read-only",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "",
    "# No way up: no new privileges, no capabilities (but binding a port below 1024).",
    "NoNewPrivileges=yes",
    `CapabilityBoundingSet=${capabilities}`,
    `AmbientCapabilities=${capabilities}`,
    ...(lowPorts.length > 0
      ? [`# CAP_NET_BIND_SERVICE: the config listens on port ${lowPorts.join(", ")}.`]
      : []),
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "RestrictRealtime=yes",
    "RestrictNamespaces=yes",
    "",
    "# The kernel and the rest of the host are out of reach.",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "ProtectProc=invisible",
    "# IPv4/IPv6 for peers and listeners, Unix sockets, netlink to list interfaces.",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
    "SystemCallArchitectures=native",
    "SystemCallFilter=@system-service",
    "SystemCallErrorNumber=EPERM",
    "# MemoryDenyWriteExecute stays off: V8 compiles JavaScript to machine code at run time.",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
  ].join("\n");
}

/**
 * A word as systemd reads it back from `ExecStart=`: `%` and `$` doubled
 * (specifiers and variables), and double quotes around a word with a space,
 * a quote or a backslash.
 *
 * @example
 * ```ts
 * systemdQuote("--allow-env=P2PROXY_*"); // "--allow-env=P2PROXY_*"
 * systemdQuote("/srv/my proxy/Config.yaml"); // "\"/srv/my proxy/Config.yaml\""
 * ```
 */
export function systemdQuote(word: string): string {
  const escaped = word.replaceAll("%", "%%").replaceAll("$", "$$$$");
  if (/^[^\s"'\\;]+$/.test(escaped)) return escaped;
  return `"${escaped.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

function absolutePath(path: string, flag: string, cwd: string): string {
  const absolute = isAbsolute(path) ? path : resolve(cwd, path);
  if (absolute.split("/").some((part) => part === "..")) {
    throw new CliExit(EXIT_BAD_USAGE, `${flag} ${JSON.stringify(path)}: give a plain path.`);
  }
  return absolute;
}

/** The entry point as a path: a `file:` URL becomes one; anything else must be a file given. */
function entryPath(entry: string, cwd: string): string {
  if (entry.startsWith("file:")) return fileURLToPath(entry);
  if (entry.startsWith("/") || entry.startsWith(".") || entry.endsWith(".js")) {
    return absolutePath(entry, "--entry", cwd);
  }
  throw new CliExit(
    EXIT_BAD_USAGE,
    `This p2proxy runs from ${JSON.stringify(entry)}, which a unit cannot start: give the ` +
      "bundle's path with --entry (e.g. --entry /opt/p2proxy/p2proxy.js).",
  );
}

/** The TCP ports the role listens on with this config (0 = any free port). */
async function listeningPorts(
  role: ServiceRole,
  configPath: string,
  stateDir: string,
): Promise<number[]> {
  const portsOf = (addresses: readonly string[]) =>
    multiaddrHostPorts(addresses).map((hostPort) =>
      Number(hostPort.slice(hostPort.lastIndexOf(":") + 1))
    );
  if (role === "auth") {
    const config = await loadAuthConfigFile(configPath, { state_dir: stateDir });
    return [config.listen.port, ...(config.grpcPort === undefined ? [] : [config.grpcPort])];
  }
  const loaded = await loadRoleConfig(role as ConfigRole, configPath, { state_dir: stateDir });
  const common = [...portsOf(loaded.config.listenAddrs), loaded.config.metricsPort];
  return loaded.role === "proxy"
    ? [...common, ...loaded.config.servers.map((s) => s.port)]
    : common;
}
