/**
 * What every role shares in the composition root: plan the plugins from the config and the
 * plugin list, create and start them (dependency order), then run the role's services on top;
 * one `stop` ends the services in reverse, then the plugins in reverse.
 *
 * @module
 */
import type { CapabilityName, Role, RoleSettings } from "../core/plugin/contract.ts";
import { Composition, type GivenPorts } from "../core/plugin/host.ts";
import { type EventSink, NULL_SINK } from "../core/ports/event_sink.ts";
import type { PluginDefinition } from "../core/plugin/contract.ts";
import { BUILTIN_PLUGIN_LIST, planRole, type PluginList } from "./plan.ts";

/** How a role is composed besides its config. */
export interface ComposeOptions {
  /**
   * The plugins to compose from: a list (a user's `p2proxy.plugins`) or plugin definitions;
   * default: the built-ins, whose default providers settle ties.
   */
  readonly plugins?: PluginList | readonly PluginDefinition[];
  /**
   * Ports the caller supplies instead of plugins (the demo shares one clock, resolver and set
   * of event sinks between its four roles).
   */
  readonly given?: GivenPorts;
}

/** A running role: its plugins and services, and the one way to stop them. */
export interface RunningRole {
  /** Which role. */
  readonly role: Role;
  /** The created plugins and the services on them. */
  readonly composition: Composition;
  /** Where the role's events go (every event sink at once). */
  readonly events: EventSink;
  /** Stops the services (running sessions get `graceMs` to finish), then the plugins. */
  stop(graceMs?: number): Promise<void>;
}

/** The plugin list of `options`. */
export function pluginListOf(options: ComposeOptions): PluginList {
  const plugins = options.plugins;
  if (plugins === undefined) return BUILTIN_PLUGIN_LIST;
  return "builtin" in plugins ? plugins : { plugins, builtin: false };
}

/** The state directory of a role's config (the demo writes nothing: the current folder). */
function stateDirOf(settings: RoleSettings): string {
  return "stateDir" in settings.config ? settings.config.stateDir : ".";
}

/**
 * Plans, creates and starts the plugins of a role, then runs `build` on them; when `build`
 * fails, everything started is stopped and the error is passed on.
 */
export async function composeRole<T>(
  settings: RoleSettings,
  options: ComposeOptions,
  build: (composition: Composition, events: EventSink) => Promise<T>,
): Promise<T & RunningRole> {
  const given = options.given ?? {};
  const plan = planRole(settings, pluginListOf(options), {
    given: Object.keys(given) as CapabilityName[],
  });
  const composition = await Composition.create(
    plan,
    { stateDir: stateDirOf(settings), role: settings.role },
    given,
  );
  await composition.start();
  const events = composition.find("event-sink") ?? NULL_SINK;
  const network = composition.find("network");
  if (network) events.emit({ type: "local-peer-id", peerId: network.peerId });
  let built: T;
  try {
    built = await build(composition, events);
  } catch (error) {
    await composition.stop();
    throw error;
  }
  return {
    ...built,
    role: settings.role,
    composition,
    events,
    stop: async (graceMs = 0) => void await composition.stop(graceMs),
  };
}
