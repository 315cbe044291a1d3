/**
 * Compliance suite of a plugin's manifest (what `definePlugin` declares),
 * for built-in and third-party plugins alike. It checks what the host and
 * an operator rely on, not the values a manifest happens to hold: the
 * declaration is valid for this plugin API; the options schema accepts its
 * defaults and refuses unknown keys; the permissions for those options are
 * narrow; `create` (given its `requires`, from fakes unless the fixture
 * brings its own) yields exactly the declared capabilities; start and stop
 * work, and stop also works without start.
 *
 * Port behaviour is not checked here: run each provided port's own suite
 * (`clockCompliance`, `resolverCompliance`…) as well.
 *
 * @example
 * ```ts
 * import { pluginManifestCompliance } from "@p2proxy/p2proxy/testing";
 * import * as module from "./mod.ts";
 *
 * Deno.test("my plugin's manifest", (t) =>
 *   pluginManifestCompliance(t, async () => {
 *     const stateDir = await Deno.makeTempDir();
 *     return {
 *       plugin: module.plugin,
 *       module,
 *       stateDir,
 *       cleanup: () => Deno.remove(stateDir, { recursive: true }),
 *     };
 *   }));
 * ```
 *
 * @module
 */
import type { TestContext } from "./_test_context.ts";
import assert from "node:assert/strict";
import {
  type Capabilities,
  type CapabilityName,
  definitionProblems,
  PLUGIN_API_VERSION,
  type PluginDefinition,
  type Role,
} from "../../plugin/contract.ts";
import type { PermissionSet } from "../../plugin/permissions.ts";
import { FakeIdentity } from "../fake_identity.ts";
import {
  FakeClock,
  FakeDialer,
  FakeDirectory,
  MemoryStickyStore,
  RecordingSink,
} from "../fakes.ts";
import { type Awaitable, type Releasable, withFixture } from "./_harness.ts";
import { isInside } from "./_paths.ts";

/** Permission kinds a plugin may need without a list; each with the reason it cannot be narrower. */
export interface BroadPermissions {
  /** Why `--allow-net` cannot list hosts. */
  readonly net?: string;
  /** Why reading cannot stay inside the state dir. */
  readonly read?: string;
  /** Why writing cannot stay inside the state dir. */
  readonly write?: string;
  /** Why `--allow-env` cannot name its variables. */
  readonly env?: string;
  /** Why `--allow-sys` cannot name its calls. */
  readonly sys?: string;
  /** Why `--allow-run` cannot name its programs. */
  readonly run?: string;
}

/** What a manifest fixture hands the suite. */
export interface PluginManifestFixture extends Releasable {
  /** The plugin under test (a concrete definition is fine). */
  // deno-lint-ignore no-explicit-any
  readonly plugin: PluginDefinition<any, any>;
  /** The module it was loaded from, to check the CLI's plugin loader finds it there. */
  readonly module?: Readonly<Record<string, unknown>>;
  /**
   * The least options the schema accepts, for a plugin whose options cannot
   * all default (a service URL…). Default `{}`: every option has a default.
   */
  readonly requiredOptions?: Readonly<Record<string, unknown>>;
  /** Options to create and start it with here (a free port instead of the default…). */
  readonly createOptions?: Readonly<Record<string, unknown>>;
  /** An existing folder the plugin may write to; its files must stay inside. */
  readonly stateDir: string;
  /** The role passed to `permissions` and `create` (default `exit`). */
  readonly role?: Role;
  /** Providers of the plugin's `requires`; the others come from `core/testing` fakes. */
  readonly requires?: { readonly [K in CapabilityName]?: Capabilities[K] };
  /** Permissions that may be granted without a list, and why. */
  readonly broadPermissions?: BroadPermissions;
}

/** The one variable-name pattern a plugin may ask for: every p2proxy variable is under it. */
const P2PROXY_ENV_PATTERN = "P2PROXY_*";

/** An option key no plugin has: a typo must not pass silently. */
const UNKNOWN_OPTION_KEY = "compliance_unknown_option";

const PATH_KINDS = ["read", "write"] as const;
const KINDS = ["net", "read", "write", "env", "sys", "run"] as const;

/** Fakes for the capabilities `core/testing` has one of. */
async function fakeProvider(capability: CapabilityName): Promise<unknown> {
  switch (capability) {
    case "clock":
      return new FakeClock();
    case "identity":
      return await FakeIdentity.create();
    case "event-sink":
      return new RecordingSink();
    case "sticky-store":
      return new MemoryStickyStore();
    case "peer-directory":
      return new FakeDirectory();
    case "dialer":
      return new FakeDialer();
    default:
      return undefined;
  }
}

/**
 * Runs the manifest compliance steps (see the module doc). `make` builds a
 * fresh fixture for every step, with a state dir of its own.
 */
export async function pluginManifestCompliance(
  t: TestContext,
  make: () => Awaitable<PluginManifestFixture>,
): Promise<void> {
  await t.step(
    "the declaration is valid for this plugin API",
    () =>
      withFixture(make, ({ plugin }) => {
        const generic = plugin as PluginDefinition;
        assert.deepEqual(definitionProblems(generic), []);
        assert.equal(
          plugin.api,
          PLUGIN_API_VERSION,
          `built for plugin API ${plugin.api}, this core implements ${PLUGIN_API_VERSION}`,
        );
        assert.ok(
          typeof plugin.description === "string" && plugin.description.trim().length > 0,
          "describe the plugin in one line (`p2proxy plugins` shows it)",
        );
        const provides = plugin.provides as readonly string[];
        const requires = (plugin.requires ?? []) as readonly string[];
        assert.equal(new Set(provides).size, provides.length, "provides lists a capability twice");
        assert.equal(new Set(requires).size, requires.length, "requires lists a capability twice");
        const own = requires.filter((c) => provides.includes(c));
        assert.deepEqual(own, [], "a plugin cannot require what it provides itself");
        return Promise.resolve();
      }),
  );

  await t.step(
    "the CLI's plugin loader finds it in its module",
    () =>
      withFixture(make, ({ plugin, module }) => {
        if (!module) return Promise.resolve();
        // The same lookup as cli/plugin_loader.ts: `plugins`, then `plugin`, then the default.
        const found = module.plugins ?? module.plugin ?? module.default;
        const all = Array.isArray(found) ? found : [found];
        assert.ok(all.includes(plugin), "export it as `plugin` (and as the default export)");
        if ("default" in module && "plugin" in module) {
          assert.equal(module.default, module.plugin, "the default export is another plugin");
        }
        return Promise.resolve();
      }),
  );

  await t.step(
    "the options schema accepts its defaults, and its output again",
    () =>
      withFixture(make, ({ plugin, requiredOptions }) => {
        const raw = requiredOptions ?? {};
        const parsed = parseOrFail(plugin, raw, "the default options");
        // What the host hands the plugin must survive a second parse unchanged (a config
        // written back from parsed options, or a default that is itself invalid).
        assert.deepEqual(parseOrFail(plugin, parsed, "its own parsed defaults"), parsed);
        if (requiredOptions !== undefined && Object.keys(requiredOptions).length > 0) {
          const empty = plugin.options.safeParse({});
          assert.equal(empty.success, false, "requiredOptions are given, but `{}` parses");
          const said = JSON.stringify(empty.error?.issues ?? []);
          for (const key of Object.keys(requiredOptions)) {
            if (plugin.options.safeParse(without(requiredOptions, key)).success) continue;
            assert.ok(
              said.includes(JSON.stringify(key)),
              `refusing \`{}\` must name the missing option "${key}" (in the issue's path)`,
            );
          }
        }
        return Promise.resolve();
      }),
  );

  await t.step(
    "unknown option keys are refused",
    () =>
      withFixture(make, ({ plugin, requiredOptions }) => {
        const typo = { ...(requiredOptions ?? {}), [UNKNOWN_OPTION_KEY]: 1 };
        assert.equal(
          plugin.options.safeParse(typo).success,
          false,
          "a misspelt option would be ignored: make the schema strict",
        );
        return Promise.resolve();
      }),
  );

  await t.step(
    "the permissions for the default options are narrow",
    () =>
      withFixture(make, ({ plugin, requiredOptions, stateDir, role, broadPermissions }) => {
        const options = parseOrFail(plugin, requiredOptions ?? {}, "the default options");
        const ctx = { stateDir, role: role ?? "exit" };
        const permissions: PermissionSet = plugin.permissions?.(options, ctx) ?? {};
        assert.deepEqual(
          plugin.permissions?.(options, ctx) ?? {},
          permissions,
          "not deterministic",
        );
        for (const kind of Object.keys(permissions)) {
          assert.ok(
            [...KINDS, "unstable"].includes(kind),
            `unknown permission kind "${kind}"`,
          );
        }
        const broad = broadPermissions ?? {};
        for (const kind of KINDS) {
          const values = permissions[kind] ?? [];
          const wildcard = values.includes("*");
          const reason = broad[kind];
          if (wildcard) {
            assert.ok(
              typeof reason === "string" && reason.trim().length > 0,
              `--allow-${kind} without a list: narrow it, or declare why in broadPermissions.${kind}`,
            );
            continue;
          }
          assert.equal(
            reason,
            undefined,
            `broadPermissions.${kind} is declared, but the plugin asks for a list: drop it`,
          );
        }
        for (const kind of PATH_KINDS) {
          if (broad[kind]) continue;
          for (const path of permissions[kind] ?? []) {
            assert.ok(
              isInside(path, stateDir),
              `--allow-${kind}=${path} is outside the state dir ${JSON.stringify(stateDir)}`,
            );
          }
        }
        if (!broad.env) {
          for (const name of permissions.env ?? []) {
            assert.ok(
              name === P2PROXY_ENV_PATTERN || /^[A-Za-z_][A-Za-z0-9_]*$/.test(name),
              `--allow-env=${name}: name each variable, or use ${P2PROXY_ENV_PATTERN}`,
            );
          }
        }
        return Promise.resolve();
      }),
  );

  await t.step(
    "create yields exactly the declared capabilities, asking only for its requires",
    () =>
      withFixture(make, async (fixture) => {
        const { instance, asked } = await createInstance(fixture);
        try {
          const provided = Object.keys(instance.provides).sort();
          assert.deepEqual(provided, [...fixture.plugin.provides].sort());
          for (const capability of provided) {
            const port = (instance.provides as Record<string, unknown>)[capability];
            assert.ok(
              typeof port === "object" && port !== null,
              `"${capability}" is not an implementation of its port`,
            );
          }
          const declared: readonly string[] = [
            ...(fixture.plugin.requires ?? []),
            ...(fixture.plugin.wraps ?? []),
            ...(fixture.plugin.wants ?? []),
          ];
          const undeclared = asked.filter((c) => !declared.includes(c));
          assert.deepEqual(undeclared, [], "create asked for capabilities it did not require");
        } finally {
          await instance.stop?.();
        }
      }),
  );

  await t.step(
    "start then stop work",
    () =>
      withFixture(make, async (fixture) => {
        const { instance } = await createInstance(fixture);
        try {
          await instance.start?.();
        } finally {
          await instance.stop?.();
        }
      }),
  );

  await t.step(
    "stop works without start (the host stops plugins that never started)",
    () =>
      withFixture(make, async (fixture) => {
        const { instance } = await createInstance(fixture);
        await instance.stop?.();
      }),
  );
}

/** Creates the plugin with the fixture's options and a context like the host's. */
async function createInstance(fixture: PluginManifestFixture) {
  const { plugin, requiredOptions, createOptions, stateDir, role } = fixture;
  const options = parseOrFail(plugin, createOptions ?? requiredOptions ?? {}, "the create options");
  // A wrapper gets the port it wraps as it gets what it requires.
  const requires = new Set<string>([...(plugin.requires ?? []), ...(plugin.wraps ?? [])]);
  const ports = new Map<string, unknown>();
  for (const capability of requires) {
    const port = fixture.requires?.[capability as CapabilityName] ??
      await fakeProvider(capability as CapabilityName);
    assert.ok(
      port !== undefined,
      `core/testing has no fake "${capability}": give one in the fixture's requires`,
    );
    ports.set(capability, port);
  }
  const asked: string[] = [];
  const ctx = {
    stateDir,
    role: role ?? "exit",
    get: <K extends CapabilityName>(capability: K): Capabilities[K] => {
      asked.push(capability);
      if (!requires.has(capability)) {
        throw new Error(`The plugin asked for "${capability}" without declaring it in requires.`);
      }
      return ports.get(capability) as Capabilities[K];
    },
    // A capability the plugin only `wants` is absent here, as in a role that has none.
    find: <K extends CapabilityName>(capability: K): Capabilities[K] | undefined => {
      asked.push(capability);
      if (!requires.has(capability) && !(plugin.wants ?? []).includes(capability)) {
        throw new Error(
          `The plugin asked for "${capability}" without declaring it in requires or wants.`,
        );
      }
      return ports.get(capability) as Capabilities[K] | undefined;
    },
  };
  const instance = await plugin.create(options, ctx);
  return { instance, asked };
}

// deno-lint-ignore no-explicit-any
function parseOrFail(plugin: PluginDefinition<any, any>, raw: unknown, what: string) {
  const result = plugin.options.safeParse(raw);
  assert.ok(
    result.success,
    `the options schema refused ${what} ${JSON.stringify(raw)}: ${
      JSON.stringify(result.error?.issues)
    }`,
  );
  return result.data as Record<string, unknown>;
}

function without(options: Readonly<Record<string, unknown>>, key: string) {
  return Object.fromEntries(Object.entries(options).filter(([k]) => k !== key));
}
