// gpu-usage (score), after Kthena's plugins/gpu.go: (1 − KV-cache usage)·100. Pods with unknown usage are not scored.
import type { PodEndpoint } from '../../snapshot/types.ts';
import type { SchedulingCycle } from '../framework/cycle.ts';
import type { PluginEnv, SchedulerPlugin } from '../framework/types.ts';
import { NO_ARGS, definePlugin } from './plugin-definition.ts';

export const GPU_USAGE = 'gpu-usage';

export class GpuUsagePlugin implements SchedulerPlugin {
  readonly name = GPU_USAGE;
  private readonly env: PluginEnv;

  constructor(env: PluginEnv) {
    this.env = env;
  }

  score(cycle: SchedulingCycle, pods: readonly PodEndpoint[], alive: Uint8Array, out: Float64Array): void {
    for (let i = 0; i < pods.length; i++) {
      if (alive[i] === 0) continue;
      const usage = this.env.engines.metrics(pods[i].origin, cycle.now)?.kvCacheUsage ?? NaN;
      if (!Number.isNaN(usage)) out[i] = (1 - Math.min(1, Math.max(0, usage))) * 100;
    }
  }
}

export const gpuUsagePlugin = definePlugin({ name: GPU_USAGE, filter: false, score: true, args: NO_ARGS, create: (_args, env) => new GpuUsagePlugin(env) });
