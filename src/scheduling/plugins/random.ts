// random (score), after Kthena's plugins/random.go: every pod gets a whole number in [0, 100].
import type { PodEndpoint } from '../../snapshot/types.ts';
import type { SchedulingCycle } from '../framework/cycle.ts';
import type { PluginEnv, SchedulerPlugin } from '../framework/types.ts';
import { NO_ARGS, definePlugin } from './plugin-definition.ts';

export const RANDOM = 'random';

export class RandomPlugin implements SchedulerPlugin {
  readonly name = RANDOM;
  private readonly random: () => number;

  constructor(env: PluginEnv) {
    this.random = env.random;
  }

  score(_cycle: SchedulingCycle, pods: readonly PodEndpoint[], alive: Uint8Array, out: Float64Array): void {
    for (let i = 0; i < pods.length; i++) if (alive[i] !== 0) out[i] = Math.floor(this.random() * 101);
  }
}

export const randomPlugin = definePlugin({ name: RANDOM, filter: false, score: true, args: NO_ARGS, create: (_args, env) => new RandomPlugin(env) });
