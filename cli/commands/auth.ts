/**
 * `p2proxy auth serve -c Auth.yaml`: the reference auth service (docs/authentication.md).
 * `p2proxy auth add-key -c Auth.yaml --role proxy|exit|both [--name N]`:
 * creates an API key, prints it once, and stores only its hash in the file.
 *
 * `p2proxy auth export-env -c Auth.yaml [--format env|json]`: prints the environment variables
 * the `./auth-handler` export runs on (signing key, API-key hashes, network id, token ttl), to
 * stdout only: they hold the signing key.
 *
 * `auth serve` reloads its config on SIGHUP (new API keys, revocations,
 * token settings, key rotation) without dropping a connection.
 *
 * The service and key code (Connect, node:http2, jose) is imported only when
 * a subcommand runs, so other commands start without it.
 *
 * @module
 */
import { type Command, Option } from "commander";
import { getLogger } from "@logtape/logtape";
import { dirname, isAbsolute, join } from "node:path";
import { isMap, isSeq, parseDocument } from "yaml";
import {
  type ApiKeyEntry,
  type ApiKeyRole,
  AUTH_ENV,
  type AuthServiceConfig,
  ConfigError,
  loadAuthConfig,
} from "../../core/config/mod.ts";
import { isLoopbackAddress } from "../../core/config/common.ts";
import { describeError } from "../../core/errors.ts";
import type { PermissionSet } from "../../core/plugin/permissions.ts";
import type { StartedAuthService } from "../../auth-service/service_runner.ts";
import type { CliContext } from "../context.ts";
import { CliExit, EXIT_BAD_USAGE, EXIT_RUNTIME_FAILURE } from "../exit_codes.ts";
import { configureLogging, LOG_FORMAT_ENV } from "../logging.ts";
import { loadPlugins } from "../plugin_loader.ts";
import { listenGrant } from "../role_permissions.ts";
import { StateDirLock } from "../state_dir_lock.ts";
import { waitForStopSignal } from "../shutdown.ts";
import { addRunFlags, type RunFlags } from "./_run_flags.ts";

const logger = getLogger(["p2proxy", "auth"]);

/** Mode of a config file add-key creates: it holds hashes only, but nobody else needs it. */
const NEW_CONFIG_FILE_MODE = 0o600;

/** Adds `auth serve`, `auth add-key` and `auth export-env`. */
export function registerAuth(program: Command, context: CliContext): void {
  const auth = program
    .command("auth")
    .description("the auth service: issue short-lived tokens for API keys, manage the keys");

  const serveCommand = auth
    .command("serve")
    .description("run the auth service (Connect and gRPC-web; gRPC on grpc_port)")
    .requiredOption("-c, --config <file>", "the auth config (YAML or JSON)")
    .option("--state-dir <dir>", "where the signing key lives")
    .option("--listen <address>", "address and port for Connect and gRPC-web, e.g. 127.0.0.1:8443")
    .option("--grpc-port <port>", "a second port for gRPC over HTTP/2");
  addRunFlags(serveCommand)
    .action(async (options: ServeFlags) => {
      await serve(options, context);
    });

  auth
    .command("add-key")
    .description("create an API key, print it once, and store only its hash in the config")
    .requiredOption("-c, --config <file>", "the auth config to add the key to (created if absent)")
    .addOption(
      new Option("--role <role>", "the token roles the key may ask for")
        .choices(["proxy", "exit", "both"])
        .makeOptionMandatory(),
    )
    .option(
      "--name <name>",
      "a unique label for logs and revocation (default: key-<date>-<random>)",
    )
    .action(async (options: { config: string; role: ApiKeyRole; name?: string }) => {
      await addKey(options);
    });

  auth
    .command("export-env")
    .description(
      "print the environment variables the auth handler (deno serve, serverless) runs on",
    )
    .requiredOption("-c, --config <file>", "the auth config (YAML or JSON)")
    .option("--state-dir <dir>", "where the signing key lives (created there if absent)")
    .addOption(
      new Option("--format <format>", "NAME='value' lines, or one JSON object")
        .choices(["env", "json"])
        .default("env"),
    )
    .action(async (options: ExportEnvFlags) => {
      await exportEnv(options);
    });
}

// ---------------------------------------------------------------------------
// auth serve

interface ServeFlags extends RunFlags {
  readonly config: string;
  readonly stateDir?: string;
  readonly listen?: string;
  readonly grpcPort?: string;
}

/** The `P2PROXY_*` variables `auth serve` reads, one by one (the env permission may be narrow). */
function readAuthEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const { variable } of AUTH_ENV) {
    try {
      env[variable] = Deno.env.get(variable);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotCapable)) throw error;
    }
  }
  return env;
}

/** Loads Auth.yaml with the environment and flags; a missing file means all defaults. */
export async function loadAuthConfigFile(
  path: string,
  overrides: Readonly<Record<string, unknown>> = {},
): Promise<AuthServiceConfig> {
  const text = await readOptionalText(path);
  return loadAuthConfig(text ?? "", { source: path, env: readAuthEnv(), overrides });
}

async function serve(flags: ServeFlags, context: CliContext): Promise<void> {
  const overrides = {
    ...(flags.stateDir ? { state_dir: flags.stateDir } : {}),
    ...(flags.listen ? { listen: flags.listen } : {}),
    ...(flags.grpcPort ? { grpc_port: flags.grpcPort } : {}),
    ...(flags.logLevel ? { log_level: flags.logLevel } : {}),
  };
  const config = await loadAuthConfigFile(flags.config, overrides);
  await configureLogging(config.logLevel);
  for (const warning of config.warnings) logger.warn("{path}: {message}", { ...warning });
  // One service per state dir (its signing key); held until the process ends.
  await StateDirLock.acquire(config.stateDir);
  const { startAuthService } = await import("../../compose/auth_role.ts");
  // A port in use is a ListenError naming the address and `listen` or `grpc_port`.
  const auth = await startAuthService(config, {
    plugins: await loadPlugins(context.cwd, context.staticModules),
  });
  const started: StartedAuthService = auth.service;
  await announce(config, started);
  const onHangup = () => void reload(flags.config, overrides, started);
  Deno.addSignalListener("SIGHUP", onHangup);
  try {
    await waitForStopSignal();
  } finally {
    Deno.removeSignalListener("SIGHUP", onHangup);
    await auth.stop();
  }
}

async function announce(config: AuthServiceConfig, started: StartedAuthService): Promise<void> {
  const { base64url } = await import("jose");
  const { server, service } = started;
  const key = service.settings.signingKey;
  logger.info("Auth service for network {network}: Connect and gRPC-web on {url}", {
    network: config.networkId,
    url: server.url,
  });
  if (server.grpcUrl !== undefined) logger.info("gRPC on {grpcUrl}", { grpcUrl: server.grpcUrl });
  logger.info(
    "Tokens are signed by key {kid}; its public key (for static verifier configs) is {publicKey}.",
    { kid: key.kid, publicKey: base64url.encode(key.raw) },
  );
  if (config.apiKeys.length === 0) {
    logger.warn(
      'No API keys are configured, so every token request is refused: run "p2proxy auth add-key ' +
        '-c <file> --role proxy" and send SIGHUP (or restart).',
    );
  }
  if (config.tls === undefined && !isLoopbackAddress(config.listen.hostname)) {
    logger.warn(
      "Listening on {host} without TLS: API keys cross the network in clear text. Set `tls` " +
        "(cert and key) or put a TLS proxy in front.",
      { host: config.listen.hostname },
    );
  }
}

async function reload(
  path: string,
  overrides: Readonly<Record<string, unknown>>,
  started: StartedAuthService,
): Promise<void> {
  try {
    const config = await loadAuthConfigFile(path, overrides);
    const needRestart = await started.reload(config);
    logger.info("Reloaded {path}: {count} API key(s), signing key {kid}.", {
      path,
      count: config.apiKeys.length,
      kid: started.service.settings.signingKey.kid,
    });
    if (needRestart.length > 0) {
      logger.warn("Changes to {keys} take effect only after a restart.", {
        keys: needRestart.join(", "),
      });
    }
  } catch (error) {
    logger.error("Reload of {path} failed; the previous settings stay in force: {error}", {
      path,
      error: describeError(error),
    });
  }
}

// ---------------------------------------------------------------------------
// auth add-key

async function addKey(options: { config: string; role: ApiKeyRole; name?: string }) {
  const path = options.config;
  const text = await readOptionalText(path);
  // The file as it is must be valid: never append to a file the service would refuse.
  const config = loadAuthConfig(text ?? "", { source: path });
  const { generateApiKey, hashApiKey } = await import("../../auth-service/api_keys.ts");
  const name = options.name?.trim() || defaultKeyName();
  if (config.apiKeys.some((entry) => entry.name === name)) {
    throw new CliExit(
      EXIT_BAD_USAGE,
      `"${path}" already has an API key named "${name}": choose another --name.`,
    );
  }
  const key = generateApiKey();
  const entry: ApiKeyEntry = { name, hash: await hashApiKey(key), role: options.role };
  const updated = appendApiKey(text ?? "", entry, path);
  loadAuthConfig(updated, { source: path });
  await writeFileAtomically(path, updated, text === undefined);
  console.log(key);
  console.error(
    `Added the API key "${name}" (role ${options.role}) to ${path}; the file holds only its hash. ` +
      "The key above is shown once: store it now (nodes read it from `api_key` or " +
      "P2PROXY_API_KEY). A running auth service picks it up on SIGHUP or restart.",
  );
}

function defaultKeyName(): string {
  const date = new Date().toISOString().slice(0, 10).replaceAll("-", "");
  return `key-${date}-${crypto.randomUUID().slice(0, 6)}`;
}

/** The config text with `entry` appended to `api_keys`, comments and layout kept. */
export function appendApiKey(text: string, entry: ApiKeyEntry, source: string): string {
  const plain = { name: entry.name, hash: entry.hash, role: entry.role };
  if (source.toLowerCase().endsWith(".json")) {
    const parsed = text.trim() === "" ? {} : JSON.parse(text) as Record<string, unknown>;
    const keys = Array.isArray(parsed.api_keys) ? parsed.api_keys : [];
    return `${JSON.stringify({ ...parsed, api_keys: [...keys, plain] }, null, 2)}\n`;
  }
  // An empty document gets a mapping from `set`; anything else is a mapping (the config was valid).
  const document = parseDocument(text);
  const existing = isMap(document.contents) ? document.contents.get("api_keys", true) : undefined;
  if (isSeq(existing)) {
    const node = document.createNode(plain);
    // `api_keys: []` becomes a block list; a non-empty flow list keeps its style.
    if (existing.items.length === 0) existing.flow = false;
    else if (existing.flow) node.flow = true;
    existing.add(node);
  } else document.set("api_keys", document.createNode([plain]));
  return document.toString();
}

async function readOptionalText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new ConfigError("unreadable", path, [{
      path: "",
      message: `Cannot read the config: ${describeError(error)}.`,
    }]);
  }
}

/** Replaces `path` through a temp file and a rename, keeping the file's mode. */
async function writeFileAtomically(path: string, text: string, isNew: boolean): Promise<void> {
  const mode = isNew ? NEW_CONFIG_FILE_MODE : await modeOf(path);
  const temp = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeTextFile(temp, text, { createNew: true, ...(mode ? { mode } : {}) });
    if (mode !== undefined && Deno.build.os !== "windows") await Deno.chmod(temp, mode);
    using file = await Deno.open(temp, { read: true });
    await file.syncData();
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw new CliExit(
      EXIT_RUNTIME_FAILURE,
      `Could not write "${path}" (${describeError(error)}); the file is unchanged. Make sure ` +
        `p2proxy may write in "${dirname(path)}".`,
      { cause: error },
    );
  }
}

async function modeOf(path: string): Promise<number | undefined> {
  try {
    const mode = (await Deno.stat(path)).mode;
    return mode === null ? undefined : mode & 0o777;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// auth export-env

interface ExportEnvFlags {
  readonly config: string;
  readonly stateDir?: string;
  readonly format: "env" | "json";
}

async function exportEnv(flags: ExportEnvFlags): Promise<void> {
  const overrides = flags.stateDir ? { state_dir: flags.stateDir } : {};
  const config = await loadAuthConfigFile(flags.config, overrides);
  const { authEnvValues } = await import("../../auth-service/env_export.ts");
  // A signing key created here is logged where it is created (signing_key.ts).
  const { values, signingKeyPath } = await authEnvValues(config);
  console.log(flags.format === "json" ? JSON.stringify(values, null, 2) : formatEnvFile(values));
  console.error(
    `These values hold the token-signing key of ${signingKeyPath}: set them as secrets of the ` +
      `platform (or in a private --env-file), never in a repository. ${config.apiKeys.length} ` +
      "API key hash(es) are included: export again after adding or revoking a key.",
  );
}

/**
 * `NAME='value'` lines, which a POSIX shell, `deno serve --env-file` and most platforms' `.env`
 * importers read alike. A `'` inside the JSON value (a key name may hold one) is written as a
 * JSON escape; any other value that an env file cannot carry (a quote or a line break in the
 * issuer) is refused with a pointer to `--format json`.
 */
export function formatEnvFile(values: Readonly<Record<string, string>>): string {
  return Object.entries(values)
    .map(([name, value]) => {
      const quoted = name === AUTH_API_KEYS_VARIABLE ? value.replaceAll("'", "\\u0027") : value;
      if (/['\n\r]/.test(quoted)) {
        throw new CliExit(
          EXIT_BAD_USAGE,
          `The value of ${name} holds a quote or a line break, which an env file cannot carry: ` +
            "use --format json, or change it in the config.",
        );
      }
      return `${name}='${quoted}'`;
    })
    .join("\n");
}

/** The variable of the API keys' JSON (`auth-service/env_settings.ts`, not imported up front). */
const AUTH_API_KEYS_VARIABLE = "P2PROXY_AUTH_API_KEYS";

// ---------------------------------------------------------------------------
// Permissions

/**
 * What `auth serve` needs with this config, for `p2proxy permissions`: its
 * ports, the config file (SIGHUP rereads it), the key and TLS files, write
 * on the signing key's folder (created there on first run), and its
 * environment variables. `add-key` needs read and write on the config
 * file's folder instead (atomic replace).
 */
export function authServePermissions(config: AuthServiceConfig, configPath: string): PermissionSet {
  const host = config.listen.hostname;
  const statePath = (path: string) => isAbsolute(path) ? join(path) : join(config.stateDir, path);
  const signingKey = statePath(config.signingKey);
  const files = [
    ...config.previousSigningKeys,
    ...(config.tls === undefined ? [] : [config.tls.certFile, config.tls.keyFile]),
  ].map(statePath);
  return {
    net: [
      listenGrant(host, config.listen.port),
      ...(config.grpcPort === undefined ? [] : [listenGrant(host, config.grpcPort)]),
    ],
    read: [configPath, dirname(signingKey), ...files],
    write: [dirname(signingKey)],
    env: [...AUTH_ENV.map((binding) => binding.variable), LOG_FORMAT_ENV],
  };
}
