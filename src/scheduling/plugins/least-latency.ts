// least-latency (score), after Kthena's plugins/least_latency.go. Over the pods with measured TTFT and TPOT
// (scraped, averaged over the last interval): sTTFT = 100·(max − ttft)/(max − min) (100 when all are equal), likewise
// sTPOT, and score = sTTFT·f + sTPOT·(1 − f) with f = TTFTTPOTWeightFactor. Pods not measured yet, or whose metrics
// are stale, are not scored (neutral 50, as Kthena gives them).
import { z } from 'zod';
import type { PodEndpoint } from '../../snapshot/types.ts';
import type { SchedulingCycle } from '../framework/cycle.ts';
import type { PluginEnv, SchedulerPlugin } from '../framework/types.ts';
import { definePlugin } from './plugin-definition.ts';

export const LEAST_LATENCY = 'least-latency';

const args = z.strictObject({
  TTFTTPOTWeightFactor: z
    .number()
    .min(0, 'must be in [0, 1]')
    .max(1, 'must be in [0, 1]')
    .nullish()
    .transform((value) => value ?? 0.5),
});

export class LeastLatencyPlugin implements SchedulerPlugin {
  readonly name = LEAST_LATENCY;
  private readonly env: PluginEnv;
  readonly factor: number;

  constructor(options: z.output<typeof args>, env: PluginEnv) {
    this.env = env;
    this.factor = options.TTFTTPOTWeightFactor;
  }

  score(cycle: SchedulingCycle, pods: readonly PodEndpoint[], alive: Uint8Array, out: Float64Array): void {
    let minTtft = Infinity;
    let maxTtft = -Infinity;
    let minTpot = Infinity;
    let maxTpot = -Infinity;
    for (let i = 0; i < pods.length; i++) {
      if (alive[i] === 0) continue;
      const stats = this.env.engines.metrics(pods[i].origin, cycle.now);
      if (stats === null || !(stats.ttftSeconds > 0) || !(stats.tpotSeconds > 0)) continue;
      minTtft = Math.min(minTtft, stats.ttftSeconds);
      maxTtft = Math.max(maxTtft, stats.ttftSeconds);
      minTpot = Math.min(minTpot, stats.tpotSeconds);
      maxTpot = Math.max(maxTpot, stats.tpotSeconds);
    }
    if (minTtft === Infinity) return;
    for (let i = 0; i < pods.length; i++) {
      if (alive[i] === 0) continue;
      const stats = this.env.engines.metrics(pods[i].origin, cycle.now);
      if (stats === null || !(stats.ttftSeconds > 0) || !(stats.tpotSeconds > 0)) continue;
      const sTtft = maxTtft === minTtft ? 100 : (100 * (maxTtft - stats.ttftSeconds)) / (maxTtft - minTtft);
      const sTpot = maxTpot === minTpot ? 100 : (100 * (maxTpot - stats.tpotSeconds)) / (maxTpot - minTpot);
      out[i] = sTtft * this.factor + sTpot * (1 - this.factor);
    }
  }
}

export const leastLatencyPlugin = definePlugin({
  name: LEAST_LATENCY,
  filter: false,
  score: true,
  args,
  create: (options, env) => new LeastLatencyPlugin(options, env),
});
