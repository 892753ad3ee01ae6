// Every scheduler plugin by its Kthena name.
import { gpuUsagePlugin } from './gpu-usage.ts';
import { kvCacheAwarePlugin } from './kvcache-aware.ts';
import { leastLatencyPlugin } from './least-latency.ts';
import { leastRequestPlugin } from './least-request.ts';
import { loraAffinityPlugin } from './lora-affinity.ts';
import { loraResidencyPlugin } from './lora-residency.ts';
import type { PluginDefinition } from './plugin-definition.ts';
import { prefixCachePlugin } from './prefix-cache.ts';
import { randomPlugin } from './random.ts';
import { sessionAffinityPlugin } from './session-affinity.ts';

export const PLUGINS: ReadonlyMap<string, PluginDefinition> = new Map(
  [leastRequestPlugin, leastLatencyPlugin, prefixCachePlugin, gpuUsagePlugin, loraAffinityPlugin, randomPlugin, sessionAffinityPlugin, kvCacheAwarePlugin, loraResidencyPlugin].map(
    (definition) => [definition.name, definition],
  ),
);

/** Kthena plugins Switchyard knows of but does not implement, with the reason given in the error. */
export const UNSUPPORTED_PLUGINS: ReadonlyMap<string, string> = new Map();
