/**
 * The plugin host: decides which plugin provides each capability a role needs,
 * validates everything before anything is created, then creates, starts and
 * stops the chosen plugins in dependency order. Pure: loading modules and
 * reading deno.json is the CLI's job.
 *
 * @module
 */
import {
  type Capabilities,
  type CapabilityName,
  definitionProblems,
  type PermissionContext,
  PLUGIN_API_VERSION,
  type PluginDefinition,
  PluginError,
  type PluginInstance,
  type RoleSettings,
} from "./contract.ts";
import { type EventSink, fanOut } from "../ports/event_sink.ts";
import { mergePermissions, type PermissionSet } from "./permissions.ts";

/**
 * Capabilities that every loaded provider serves at once, instead of one
 * chosen provider: events go to the log and to Prometheus together; every
 * inbound door (SOCKS5, and the next ones) serves its own ports.
 */
export const MULTI_PROVIDER_CAPABILITIES: ReadonlySet<string> = new Set(["event-sink", "inbound"]);

/** What a role asks of the host. */
export interface CompositionRequest {
  /** Every plugin that was loaded. */
  readonly plugins: readonly PluginDefinition[];
  /** Capabilities the role cannot run without. */
  readonly needs: readonly CapabilityName[];
  /** Capabilities the role uses when some plugin provides them. */
  readonly wants?: readonly CapabilityName[];
  /** Config `providers`: capability → plugin name. Wins over `defaults`. */
  readonly choices?: Readonly<Record<string, string>>;
  /** Built-in choices, applied only when the plugin list is the built-in one. */
  readonly defaults?: Readonly<Record<string, string>>;
  /** Config `plugins`: plugin name → raw options. They win, key by key, over `configure`'s. */
  readonly options?: Readonly<Record<string, unknown>>;
  /** The role's config, handed to each chosen plugin's `configure` hook. */
  readonly settings?: RoleSettings;
  /**
   * Capabilities the caller supplies itself (e.g. the demo's shared clock and event sinks):
   * no plugin is chosen for them, and plugins that require them get the caller's port.
   */
  readonly given?: readonly CapabilityName[];
}

/** One chosen plugin with its parsed options. */
export interface PlannedPlugin {
  /** The plugin's declaration. */
  readonly plugin: PluginDefinition;
  /** Its options, parsed by its schema (defaults applied). */
  // deno-lint-ignore no-explicit-any
  readonly options: Record<string, any>;
}

/** The validated outcome of planning: plugins in creation order and who provides what. */
export interface CompositionPlan {
  /** The plugins to create, dependencies first. */
  readonly entries: readonly PlannedPlugin[];
  /** Capability → the name of the plugin that provides it. */
  readonly providers: ReadonlyMap<CapabilityName, string>;
  /** Capabilities the caller supplies (see {@link CompositionRequest.given}). */
  readonly given: ReadonlySet<CapabilityName>;
  /**
   * For each chosen plugin that wraps capabilities (`wraps`): capability → the plugin whose port
   * it wraps.
   */
  readonly wrapped: ReadonlyMap<string, ReadonlyMap<CapabilityName, string>>;
}

/**
 * Validates a plugin set against what a role needs. Throws a `PluginError`
 * naming the plugin at fault for: an invalid declaration, another API major,
 * a duplicate name, a choice naming an unknown plugin or one that does not
 * provide the capability, a missing capability, two providers without a
 * choice, options for a plugin that is not loaded, bad options, a cycle.
 *
 * Two passes: the first chooses a provider for every capability the role
 * needs or wants and for every `requires` of a chosen plugin; the second
 * orders the chosen plugins so that each comes after what it requires and
 * after the providers of what it `wants` that were chosen anyway.
 */
export function planComposition(request: CompositionRequest): CompositionPlan {
  const byName = indexByName(request.plugins);
  const choices = { ...request.defaults, ...wrapperChoices(request.plugins), ...request.choices };
  checkChoices(choices, byName, request.choices ?? {});
  checkOptionsTargets(request.options ?? {}, byName);
  const given = new Set<CapabilityName>(request.given ?? []);

  const providers = new Map<CapabilityName, string>();
  const chosen: PluginDefinition[] = [];
  const wrapped = new Map<string, Map<CapabilityName, string>>();

  const choose = (plugin: PluginDefinition) => {
    if (chosen.includes(plugin)) return;
    chosen.push(plugin);
    for (const capability of plugin.provides) {
      const choice = choices[capability];
      if (!providers.has(capability) && !given.has(capability)) {
        // A plugin chosen for one capability does not take another that names someone else.
        if (choice === undefined || choice === plugin.name || !byName.has(choice)) {
          providers.set(capability, plugin.name);
        }
      }
    }
    for (const capability of plugin.wraps ?? []) {
      const inner = wrappedProvider(capability, plugin, request.plugins);
      const map = wrapped.get(plugin.name) ?? new Map<CapabilityName, string>();
      map.set(capability, inner.name);
      wrapped.set(plugin.name, map);
      choose(inner);
    }
    for (const capability of plugin.requires ?? []) resolve(capability, plugin.name, true);
  };

  const resolve = (capability: CapabilityName, neededBy: string | undefined, required: boolean) => {
    if (given.has(capability)) return;
    if (MULTI_PROVIDER_CAPABILITIES.has(capability)) {
      const all = providersOf(capability, request.plugins);
      if (all.length === 0 && required) pickProvider(capability, [], choices, neededBy, true);
      if (all[0] && !providers.has(capability)) providers.set(capability, all[0].name);
      for (const plugin of all) choose(plugin);
      return;
    }
    const already = providers.get(capability);
    if (already) return choose(byName.get(already)!);
    const plugin = pickProvider(capability, request.plugins, choices, neededBy, required);
    if (!plugin) return;
    providers.set(capability, plugin.name);
    choose(plugin);
  };

  for (const capability of request.needs) resolve(capability, undefined, true);
  for (const capability of request.wants ?? []) resolve(capability, undefined, false);

  const order = orderByDependencies(chosen, providers, byName, wrapped);
  const entries = order.map((plugin) => ({
    plugin,
    options: parseOptions(plugin, mergedOptions(plugin, request)),
  }));
  return { entries, providers, given, wrapped };
}

/** Each capability exactly one loaded plugin wraps → that plugin: a wrapper wins by default. */
function wrapperChoices(plugins: readonly PluginDefinition[]): Record<string, string> {
  const byCapability = new Map<string, string[]>();
  for (const plugin of plugins) {
    if (!Array.isArray(plugin?.wraps)) continue;
    for (const capability of plugin.wraps) {
      byCapability.set(capability, [...(byCapability.get(capability) ?? []), plugin.name]);
    }
  }
  return Object.fromEntries(
    [...byCapability].filter(([, names]) => names.length === 1).map(([c, names]) => [c, names[0]!]),
  );
}

/** The one other provider of `capability` that `wrapper` wraps. */
function wrappedProvider(
  capability: CapabilityName,
  wrapper: PluginDefinition,
  plugins: readonly PluginDefinition[],
): PluginDefinition {
  const candidates = providersOf(capability, plugins).filter((plugin) =>
    plugin !== wrapper && !(plugin.wraps ?? []).includes(capability)
  );
  if (candidates.length === 1) return candidates[0]!;
  if (candidates.length === 0) {
    throw new PluginError(
      "missing-capability",
      `Plugin "${wrapper.name}" wraps "${capability}", but no other loaded plugin provides it. ` +
        `Add one that does (e.g. @p2proxy/network-libp2p) to p2proxy.plugins in deno.json.`,
      wrapper.name,
    );
  }
  throw new PluginError(
    "ambiguous-provider",
    `Plugin "${wrapper.name}" wraps "${capability}", and ${
      candidates.map((p) => `"${p.name}"`).join(" and ")
    } all provide it. Load only one of them.`,
    wrapper.name,
  );
}

/** The plugins of `plugins` that provide `capability`, in list order. */
function providersOf(
  capability: CapabilityName,
  plugins: readonly PluginDefinition[],
): PluginDefinition[] {
  return plugins.filter((p) => (p.provides as readonly string[]).includes(capability));
}

/** What a chosen plugin is created after: the providers of its `requires` and chosen `wants`. */
function dependenciesOf(
  plugin: PluginDefinition,
  chosen: readonly PluginDefinition[],
  providers: ReadonlyMap<CapabilityName, string>,
  byName: ReadonlyMap<string, PluginDefinition>,
  wrapped: ReadonlyMap<string, ReadonlyMap<CapabilityName, string>>,
): PluginDefinition[] {
  const capabilities = [...(plugin.requires ?? []), ...(plugin.wants ?? [])];
  const inner = [...(wrapped.get(plugin.name)?.values() ?? [])].flatMap((name) => {
    const provider = byName.get(name);
    return provider ? [provider] : [];
  });
  return [
    ...inner,
    ...capabilities.flatMap((capability) => {
      if (MULTI_PROVIDER_CAPABILITIES.has(capability)) {
        return providersOf(capability, chosen).filter((p) => p !== plugin);
      }
      const name = providers.get(capability);
      const provider = name === undefined ? undefined : byName.get(name);
      return provider && provider !== plugin && chosen.includes(provider) ? [provider] : [];
    }),
  ];
}

/** The chosen plugins, each after its dependencies (first-chosen first); refuses a cycle. */
function orderByDependencies(
  chosen: readonly PluginDefinition[],
  providers: ReadonlyMap<CapabilityName, string>,
  byName: ReadonlyMap<string, PluginDefinition>,
  wrapped: ReadonlyMap<string, ReadonlyMap<CapabilityName, string>>,
): PluginDefinition[] {
  const order: PluginDefinition[] = [];
  const visiting: string[] = [];
  const visit = (plugin: PluginDefinition) => {
    if (order.includes(plugin)) return;
    if (visiting.includes(plugin.name)) {
      throw new PluginError(
        "dependency-cycle",
        `Plugin "${plugin.name}" depends on itself through its requires (${
          [...visiting.slice(visiting.indexOf(plugin.name)), plugin.name].join(" → ")
        }). Break the cycle in one of those plugins.`,
        plugin.name,
      );
    }
    visiting.push(plugin.name);
    for (const dependency of dependenciesOf(plugin, chosen, providers, byName, wrapped)) {
      visit(dependency);
    }
    visiting.pop();
    order.push(plugin);
  };
  for (const plugin of chosen) visit(plugin);
  return order;
}

/** A plugin's raw options: what its `configure` maps from the role's config, then the config's own. */
function mergedOptions(plugin: PluginDefinition, request: CompositionRequest): unknown {
  const explicit = request.options?.[plugin.name];
  const configured = request.settings ? plugin.configure?.(request.settings) : undefined;
  if (configured === undefined) return explicit;
  return { ...configured, ...(explicit as Record<string, unknown> | undefined) };
}

function indexByName(plugins: readonly PluginDefinition[]): Map<string, PluginDefinition> {
  const byName = new Map<string, PluginDefinition>();
  for (const plugin of plugins) {
    const problems = definitionProblems(plugin);
    if (problems.length > 0) {
      throw new PluginError(
        "invalid-definition",
        `Plugin "${String(plugin?.name)}" is not a valid plugin: ${problems.join("; ")}.`,
        String(plugin?.name),
      );
    }
    if (plugin.api !== PLUGIN_API_VERSION) {
      throw new PluginError(
        "api-mismatch",
        `Plugin "${plugin.name}" ${plugin.version} was built for plugin API ${plugin.api}, ` +
          `but this p2proxy implements API ${PLUGIN_API_VERSION}. ` +
          `Install a version of "${plugin.name}" built for API ${PLUGIN_API_VERSION}.`,
        plugin.name,
      );
    }
    if (byName.has(plugin.name)) {
      throw new PluginError(
        "duplicate-plugin",
        `Plugin "${plugin.name}" is listed twice. Remove one entry from p2proxy.plugins in deno.json.`,
        plugin.name,
      );
    }
    byName.set(plugin.name, plugin);
  }
  return byName;
}

function checkChoices(
  choices: Readonly<Record<string, string>>,
  byName: ReadonlyMap<string, PluginDefinition>,
  explicit: Readonly<Record<string, string>>,
): void {
  for (const [capability, name] of Object.entries(choices)) {
    const plugin = byName.get(name);
    if (!plugin) {
      // A built-in default may name a plugin the user's list left out; only an explicit choice must exist.
      if (!(capability in explicit)) continue;
      throw new PluginError(
        "unknown-provider",
        `The config chooses "${name}" to provide "${capability}", but no plugin of that name is loaded. ` +
          `Add it to p2proxy.plugins in deno.json or fix providers.${capability}.`,
        name,
      );
    }
    if (!(plugin.provides as readonly string[]).includes(capability)) {
      throw new PluginError(
        "unknown-provider",
        `The config chooses "${name}" to provide "${capability}", but it provides only ` +
          `${plugin.provides.map((c) => `"${c}"`).join(", ")}. Fix providers.${capability}.`,
        name,
      );
    }
  }
}

function checkOptionsTargets(
  options: Readonly<Record<string, unknown>>,
  byName: ReadonlyMap<string, PluginDefinition>,
): void {
  for (const name of Object.keys(options)) {
    if (byName.has(name)) continue;
    throw new PluginError(
      "unknown-plugin",
      `The config has options for plugin "${name}", but no plugin of that name is loaded. ` +
        `Loaded: ${[...byName.keys()].join(", ") || "none"}.`,
      name,
    );
  }
}

function pickProvider(
  capability: CapabilityName,
  plugins: readonly PluginDefinition[],
  choices: Readonly<Record<string, string>>,
  neededBy: string | undefined,
  required: boolean,
): PluginDefinition | undefined {
  const candidates = plugins.filter((p) => (p.provides as readonly string[]).includes(capability));
  const chosen = choices[capability];
  const pick = chosen ? candidates.find((p) => p.name === chosen) : undefined;
  if (pick) return pick;
  if (candidates.length === 1) return candidates[0];
  if (candidates.length > 1) {
    throw new PluginError(
      "ambiguous-provider",
      `Plugins ${
        candidates.map((p) => `"${p.name}"`).join(" and ")
      } all provide "${capability}". ` +
        `Choose one with providers: { "${capability}": "<plugin name>" } in the config.`,
      candidates[0]!.name,
    );
  }
  if (!required) return undefined;
  const who = neededBy ? `Plugin "${neededBy}" requires` : "This role needs";
  throw new PluginError(
    "missing-capability",
    `${who} "${capability}", but no loaded plugin provides it. ` +
      `Add a plugin that provides "${capability}" to p2proxy.plugins in deno.json.`,
    neededBy,
  );
}

// deno-lint-ignore no-explicit-any
function parseOptions(plugin: PluginDefinition, raw: unknown): Record<string, any> {
  const result = plugin.options.safeParse(raw ?? {});
  if (result.success) return result.data;
  const details = result.error.issues
    .map((issue) =>
      `${issue.path.length > 0 ? issue.path.join(".") : "(options)"}: ${issue.message}`
    )
    .join("; ");
  throw new PluginError(
    "bad-options",
    `Plugin "${plugin.name}" rejected its options: ${details}. Fix plugins["${plugin.name}"] in the config.`,
    plugin.name,
  );
}

/** Everything the chosen plugins need, for `p2proxy permissions`. */
export function planPermissions(plan: CompositionPlan, ctx: PermissionContext): PermissionSet {
  return mergePermissions(
    ...plan.entries.map((entry) => entry.plugin.permissions?.(entry.options, ctx) ?? {}),
  );
}

/**
 * A role service the host runs after the plugins: a node, a registrar, a verifier. `stop` gets
 * the shutdown's grace period (how long running sessions may take to finish).
 */
export interface RoleService {
  /** Releases what the service holds; `graceMs` lets running work finish first. */
  stop(graceMs?: number): Promise<void> | void;
}

/** Ports the caller supplies (see {@link CompositionRequest.given}). */
export type GivenPorts = { readonly [K in CapabilityName]?: Capabilities[K] };

/**
 * Created plugins and the role services built on them: ports by capability, and one lifecycle.
 * Plugins start in dependency order, then services in the order they were started; `stop`
 * stops the services in reverse, then the plugins in reverse.
 */
export class Composition {
  readonly #instances: { name: string; instance: PluginInstance }[];
  readonly #ports: Map<string, unknown>;
  readonly #multi: Map<string, unknown[]>;
  readonly #services: { name: string; service: RoleService }[] = [];
  #stopped = false;

  private constructor(
    instances: { name: string; instance: PluginInstance }[],
    ports: Map<string, unknown>,
    multi: Map<string, unknown[]>,
  ) {
    this.#instances = instances;
    this.#ports = ports;
    this.#multi = multi;
  }

  /**
   * Creates the planned plugins in dependency order; `given` supplies the capabilities the plan
   * left to the caller. Nothing is started yet.
   */
  static async create(
    plan: CompositionPlan,
    ctx: PermissionContext,
    given: GivenPorts = {},
  ): Promise<Composition> {
    const ports = new Map<string, unknown>();
    const multi = new Map<string, unknown[]>();
    for (const capability of plan.given) {
      const port = given[capability];
      if (port === undefined) continue;
      if (MULTI_PROVIDER_CAPABILITIES.has(capability)) multi.set(capability, [port]);
      ports.set(capability, port);
    }
    const instances: { name: string; instance: PluginInstance }[] = [];
    const created = new Map<string, PluginInstance>();
    for (const { plugin, options } of plan.entries) {
      const required = new Set<string>([...(plugin.requires ?? []), ...(plugin.wraps ?? [])]);
      const inner = plan.wrapped?.get(plugin.name);
      const wanted = new Set<string>(plugin.wants ?? []);
      const port = (capability: CapabilityName): unknown => {
        const wrappedName = inner?.get(capability);
        if (wrappedName !== undefined) {
          return (created.get(wrappedName)?.provides as Record<string, unknown>)?.[capability];
        }
        if (capability === "event-sink" && !plan.given.has(capability)) {
          return fanOut(...(multi.get(capability) as EventSink[] ?? []));
        }
        return ports.get(capability);
      };
      const undeclared = (capability: string, list: string) =>
        new PluginError(
          "missing-capability",
          `Plugin "${plugin.name}" asked for "${capability}" without declaring it in ${list}.`,
          plugin.name,
        );
      const pluginCtx = {
        ...ctx,
        get: <K extends CapabilityName>(capability: K): Capabilities[K] => {
          if (!required.has(capability)) throw undeclared(capability, "requires");
          return port(capability) as Capabilities[K];
        },
        find: <K extends CapabilityName>(capability: K): Capabilities[K] | undefined => {
          if (!required.has(capability) && !wanted.has(capability)) {
            throw undeclared(capability, "requires or wants");
          }
          return port(capability) as Capabilities[K] | undefined;
        },
      };
      let instance: PluginInstance;
      try {
        instance = await plugin.create(options, pluginCtx);
      } catch (error) {
        await stopAll(instances.reverse());
        throw new PluginError(
          "start-failed",
          `Plugin "${plugin.name}" failed to start: ${
            error instanceof Error ? error.message : error
          }`,
          plugin.name,
          { cause: error },
        );
      }
      instances.push({ name: plugin.name, instance });
      created.set(plugin.name, instance);
      for (const [capability, port] of Object.entries(instance.provides)) {
        if (MULTI_PROVIDER_CAPABILITIES.has(capability)) {
          multi.set(capability, [...(multi.get(capability) ?? []), port]);
        } else if (plan.providers.get(capability as CapabilityName) === plugin.name) {
          ports.set(capability, port);
        }
      }
    }
    if (multi.has("event-sink") && !plan.given.has("event-sink")) {
      ports.set("event-sink", fanOut(...(multi.get("event-sink") as EventSink[])));
    }
    return new Composition(instances, ports, multi);
  }

  /** The port of a capability; throws when no chosen plugin provides it. */
  get<K extends CapabilityName>(capability: K): Capabilities[K] {
    const port = this.#ports.get(capability) ?? this.#multi.get(capability)?.[0];
    if (port === undefined) {
      throw new PluginError("missing-capability", `No plugin provides "${capability}".`);
    }
    return port as Capabilities[K];
  }

  /** The port of a capability, or undefined when none was wanted or found. */
  find<K extends CapabilityName>(capability: K): Capabilities[K] | undefined {
    return (this.#ports.get(capability) ?? this.#multi.get(capability)?.[0]) as
      | Capabilities[K]
      | undefined;
  }

  /** Every provider's port of a capability that all providers serve at once (`inbound`). */
  all<K extends CapabilityName>(capability: K): Capabilities[K][] {
    return [...(this.#multi.get(capability) ?? [])] as Capabilities[K][];
  }

  /** Starts every plugin in dependency order; on failure stops them all. */
  async start(): Promise<void> {
    for (const entry of this.#instances) {
      try {
        await entry.instance.start?.();
      } catch (error) {
        await this.stop();
        throw new PluginError(
          "start-failed",
          `Plugin "${entry.name}" failed to start: ${
            error instanceof Error ? error.message : error
          }`,
          entry.name,
          { cause: error },
        );
      }
    }
  }

  /**
   * Runs a role service on the started plugins: `start` builds and starts it; the host stops
   * it before the services started earlier and before every plugin. When `start` fails, what
   * was started is stopped and the error is passed on.
   */
  async startService<S extends RoleService>(
    name: string,
    start: () => Promise<S> | S,
  ): Promise<S> {
    if (this.#stopped) {
      throw new PluginError("start-failed", `Cannot start "${name}": the role is stopping.`);
    }
    let service: S;
    try {
      service = await start();
    } catch (error) {
      await this.stop();
      throw error;
    }
    this.#services.push({ name, service });
    return service;
  }

  /**
   * Stops the role services in reverse start order (each may let running work finish for
   * `graceMs`), then every created plugin in reverse order, once. `stop` releases what
   * `create` or `start` acquired, so it runs for plugins that never started.
   * Never throws; returns the errors it met.
   */
  async stop(graceMs = 0): Promise<Error[]> {
    if (this.#stopped) return [];
    this.#stopped = true;
    const errors: Error[] = [];
    for (const { name, service } of [...this.#services].reverse()) {
      try {
        await service.stop(graceMs);
      } catch (error) {
        errors.push(
          new PluginError("start-failed", `"${name}" failed to stop cleanly.`, undefined, {
            cause: error,
          }),
        );
      }
    }
    return [...errors, ...await stopAll([...this.#instances].reverse())];
  }
}

async function stopAll(entries: { name: string; instance: PluginInstance }[]): Promise<Error[]> {
  const errors: Error[] = [];
  for (const { name, instance } of entries) {
    try {
      await instance.stop?.();
    } catch (error) {
      errors.push(
        new PluginError("start-failed", `Plugin "${name}" failed to stop cleanly.`, name, {
          cause: error,
        }),
      );
    }
  }
  return errors;
}
