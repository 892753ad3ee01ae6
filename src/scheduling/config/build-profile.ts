// SchedulerConfig → SchedulerProfile: one instance per plugin name (least-request filters and scores with the same
// instance). A plugin whose args did not change keeps its instance from the previous profile, so a reload does not
// throw away state such as prefix-cache's store.
import type { PluginEnv, SchedulerPlugin, SchedulerProfile } from '../framework/types.ts';
import { PLUGINS } from '../plugins/registry.ts';
import type { SchedulerConfig } from './router-config.ts';

interface Built {
  readonly instance: SchedulerPlugin;
  readonly key: string;
}

/** Instances with the args they were built with, remembered per profile. */
const origins = new WeakMap<SchedulerProfile, ReadonlyMap<string, Built>>();

export function buildProfile(config: SchedulerConfig, env: PluginEnv, previous: SchedulerProfile | null = null): SchedulerProfile {
  const reusable = previous === null ? undefined : origins.get(previous);
  const built = new Map<string, Built>();
  const instance = (name: string): SchedulerPlugin => {
    const existing = built.get(name);
    if (existing !== undefined) return existing.instance;
    const args = config.args.get(name);
    const definition = PLUGINS.get(name);
    if (definition === undefined || args === undefined) throw new Error(`plugin ${name} is not configured`);
    const old = reusable?.get(name);
    const entry = old !== undefined && old.key === args.key ? old : { instance: definition.create(args.value, env), key: args.key };
    built.set(name, entry);
    return entry.instance;
  };
  const filters = config.filters.map(instance);
  const scores = config.scores.map(({ name, weight }) => ({ plugin: instance(name), weight }));
  const plugins = [...built.values()].map((b) => b.instance);
  const profile: SchedulerProfile = {
    filters,
    scores,
    hooks: plugins.filter((p) => p.served !== undefined),
    plugins,
    loadBound: config.loadBound,
  };
  origins.set(profile, built);
  return profile;
}
