// How a plugin is registered: its Kthena name, whether it filters and/or scores, a zod schema of its `args` in the
// router configuration file, and a factory. Args are validated once, when the configuration is loaded.
import { z } from 'zod';
import type { PluginEnv, SchedulerPlugin } from '../framework/types.ts';

export interface PluginDefinition {
  readonly name: string;
  readonly filter: boolean;
  readonly score: boolean;
  /** Validates `pluginConfig[].args` (an absent or null `args` is read as {}). */
  readonly args: z.ZodType;
  create(args: unknown, env: PluginEnv): SchedulerPlugin;
}

export function definePlugin<S extends z.ZodType>(definition: {
  readonly name: string;
  readonly filter: boolean;
  readonly score: boolean;
  readonly args: S;
  create(args: z.output<S>, env: PluginEnv): SchedulerPlugin;
}): PluginDefinition {
  return { ...definition, create: (args, env) => definition.create(args as z.output<S>, env) };
}

/** A whole number where 0, null or absent mean the default, as Kthena's `omitempty` args read. */
export function countArg(defaultValue: number, max = Number.MAX_SAFE_INTEGER): z.ZodType<number, number | null | undefined> {
  return z
    .number()
    .int()
    .min(0)
    .max(max)
    .nullish()
    .transform((value) => (value === null || value === undefined || value === 0 ? defaultValue : value));
}

export const NO_ARGS = z.strictObject({});
