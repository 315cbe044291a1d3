/**
 * Which role a config file is for, when the user did not say (`p2proxy check
 * -c FILE` without `--role`): each role's schema is asked whether it takes
 * the file's top-level keys; the file name breaks a tie.
 *
 * @module
 */
import { AUTH_ROLE } from "./auth_config.ts";
import { closestMatch } from "./did_you_mean.ts";
import { EXIT_ROLE } from "./exit_config.ts";
import { HUB_ROLE } from "./hub_config.ts";
import { type KeyFit, keyFit, readConfigDocument, type RoleSpec } from "./loader.ts";
import { keysAt } from "./_schema_walk.ts";
import { PROXY_ROLE } from "./proxy_config.ts";

/** Every role that reads a config file, in the order messages list them. */
export const CONFIG_FILE_ROLES = ["proxy", "exit", "hub", "auth"] as const;

/** A role that reads a config file (`auth` is the auth service, `p2proxy auth serve`). */
export type ConfigFileRole = typeof CONFIG_FILE_ROLES[number];

const SPECS: Readonly<Record<ConfigFileRole, RoleSpec<unknown>>> = {
  proxy: PROXY_ROLE,
  exit: EXIT_ROLE,
  hub: HUB_ROLE,
  auth: AUTH_ROLE,
};

/** A role {@link inferRole} settled on, and how. */
export interface DecidedRole {
  /** The role the file is for. */
  readonly role: ConfigFileRole;
  /** `keys`: the only role that takes the file's keys; `file-name`: the file name broke a tie. */
  readonly by: "keys" | "file-name";
  /** The roles whose schema takes the file's keys (empty when none does). */
  readonly candidates: readonly ConfigFileRole[];
}

/** {@link inferRole} could not decide: several roles take the keys, or none does. */
export interface UndecidedRole {
  /** Never set: tells this apart from a {@link DecidedRole}. */
  readonly role?: undefined;
  /** The roles whose schema takes the file's keys: several, or none. */
  readonly candidates: readonly ConfigFileRole[];
  /** How each role fits, for the message. */
  readonly fits: readonly KeyFit[];
}

/** What {@link inferRole} concluded. */
export type RoleInference = DecidedRole | UndecidedRole;

/**
 * Tells which role a config file is for. A role fits when it takes every
 * top-level key of the file (its legacy spellings included) and the file has
 * the keys it requires (`servers` for a proxy). One fitting role decides.
 * Several (a file of shared keys only, such as `state_dir` and `auth`), or
 * none, are decided by the file name when it names a role — as a word
 * (`Hub.yaml`, `exit-nl.yaml`), or `Config.yaml`, the anchor's proxy file —
 * among the fitting ones if any fit.
 *
 * @throws {ConfigError} `syntax` (line and column) when the text is not
 * YAML/JSON, `invalid` when it is not a mapping: never "cannot tell".
 * @example
 * ```ts
 * inferRole("missed_heartbeats: 5\n", "a.yaml"); // { role: "hub", by: "keys", candidates: ["hub"] }
 * inferRole("state_dir: hub-state\n", "Hub.yaml"); // { role: "hub", by: "file-name", candidates: ["exit", "hub", "auth"] }
 * ```
 */
export function inferRole(text: string, source: string): RoleInference {
  const file = readConfigDocument(text, source).value;
  const fits = CONFIG_FILE_ROLES.map((role) => keyFit(SPECS[role], file));
  const candidates = CONFIG_FILE_ROLES.filter((_, index) => {
    const fit = fits[index];
    return fit !== undefined && fit.unknown.length === 0 && fit.missing.length === 0;
  });
  const [only] = candidates;
  if (only !== undefined && candidates.length === 1) {
    return { role: only, by: "keys", candidates };
  }
  const named = roleNamedBy(source);
  if (named !== undefined && (candidates.length === 0 || candidates.includes(named))) {
    return { role: named, by: "file-name", candidates };
  }
  return { candidates, fits };
}

/** Words of a file name that name a role. */
const ROLE_WORDS: Readonly<Record<string, ConfigFileRole>> = {
  proxy: "proxy",
  exit: "exit",
  hub: "hub",
  auth: "auth",
};

/** The anchor's proxy config is `Config.yaml`; the README keeps that name. */
const ANCHOR_PROXY_FILE = "config";

/** The one role a file name names (`/etc/p2proxy/Hub.yaml` → hub), if exactly one. */
export function roleNamedBy(source: string): ConfigFileRole | undefined {
  const base = (source.split(/[\\/]/).at(-1) ?? "").replace(/\.[^.]*$/, "").toLowerCase();
  if (base === ANCHOR_PROXY_FILE) return "proxy";
  const named = new Set(
    base.split(/[^a-z0-9]+/).flatMap((word) =>
      Object.hasOwn(ROLE_WORDS, word) ? [ROLE_WORDS[word]!] : []
    ),
  );
  return named.size === 1 ? [...named][0] : undefined;
}

/**
 * Says why {@link inferRole} could not decide, and what to pass: the roles
 * the keys fit, or for each role what it does not take.
 *
 * @example
 * ```ts
 * const inference = inferRole("log_level: debug\n", "a.yaml");
 * if (inference.role === undefined) undecidedRoleMessage(inference, "a.yaml");
 * // Cannot tell which role "a.yaml" is for: its keys fit exit, hub and auth (keys they all take). …
 * ```
 */
export function undecidedRoleMessage(inference: UndecidedRole, source: string): string {
  const head = `Cannot tell which role ${JSON.stringify(source)} is for`;
  const { candidates } = inference;
  if (candidates.length > 0) {
    return `${head}: its keys fit ${listOf(candidates)} (keys they all take). Pass --role ` +
      `${candidates.join("|")}, or put the role in the file name (as in Hub.yaml).`;
  }
  const allKeys = CONFIG_FILE_ROLES.flatMap((role) => keysAt(SPECS[role].schema, []));
  // A key no role takes is said once, not once per role.
  const nobodys = inference.fits.reduce<readonly string[]>(
    (keys, fit) => keys.filter((key) => fit.unknown.includes(key)),
    inference.fits[0]?.unknown ?? [],
  );
  const reasons = [
    ...nobodys.map((key) => `  - ${keyWithHint(key, allKeys)} is not a key of any role`),
    ...inference.fits.flatMap((fit) => {
      const misfit = describeMisfit(
        { ...fit, unknown: fit.unknown.filter((key) => !nobodys.includes(key)) },
        allKeys,
      );
      return misfit === "" ? [] : [`  - ${fit.role}: ${misfit}`];
    }),
  ];
  return [
    `${head}: no role takes all of its keys.`,
    ...reasons,
    `Fix the keys, or pass --role ${
      CONFIG_FILE_ROLES.join("|")
    } to see every problem for one role.`,
  ].join("\n");
}

/**
 * How a role was decided, for a line that names it: empty when the keys
 * decided, else "from the file name" and what the keys fit.
 *
 * @example
 * ```ts
 * decisionNote({ role: "hub", by: "file-name", candidates: ["exit", "hub"] });
 * // "from the file name: its keys fit exit and hub"
 * ```
 */
export function decisionNote(decided: DecidedRole): string {
  if (decided.by === "keys") return "";
  const keys = decided.candidates.length === 0
    ? "no role takes all of its keys"
    : `its keys fit ${listOf(decided.candidates)}`;
  return `from the file name: ${keys}`;
}

function describeMisfit(fit: KeyFit, allKeys: readonly string[]): string {
  const parts: string[] = [];
  if (fit.unknown.length > 0) {
    parts.push(`does not take ${fit.unknown.map((key) => keyWithHint(key, allKeys)).join(", ")}`);
  }
  if (fit.missing.length > 0) {
    parts.push(`needs ${fit.missing.map((key) => `\`${key}\``).join(", ")}`);
  }
  return parts.join("; ");
}

/** `key`, with the closest key of any role when it looks like a typo of one. */
function keyWithHint(key: string, allKeys: readonly string[]): string {
  const hint = closestMatch(key, allKeys);
  return hint === undefined ? `\`${key}\`` : `\`${key}\` (did you mean \`${hint}\`?)`;
}

function listOf(items: readonly string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
}
