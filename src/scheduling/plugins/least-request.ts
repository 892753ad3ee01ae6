// least-request (filter + score), after Kthena's plugins/least_request.go.
// Filter: drop pods whose engine reports `waiting >= maxWaitingRequests`; a pod whose metrics are unknown stays.
// Score: base = inFlight + 100·queued, where inFlight is this router's own count and queued = max(inFlight − running, 0)
// with running scraped (unknown running: queued = 0); score = (maxBase − base)/maxBase·100, or 100 for all when
// maxBase is 0. Without any scraped metrics it is "fewest requests in flight", the behaviour of LeastRequestPicker.
// Unlike Kthena, queued is capped by the engine's scraped waiting count: a request sent since the last scrape is not
// "running" yet in the metrics, and Kthena counts it as queued, so a pod that just received one request looks worse
// than a pod running dozens (a burst then goes to the busiest pod). A request is queued only if the engine says so.
import { z } from 'zod';
import type { PodEndpoint } from '../../snapshot/types.ts';
import type { SchedulingCycle } from '../framework/cycle.ts';
import type { PluginEnv, SchedulerPlugin } from '../framework/types.ts';
import { countArg, definePlugin } from './plugin-definition.ts';

export const LEAST_REQUEST = 'least-request';

const args = z.strictObject({ maxWaitingRequests: countArg(10) });

export class LeastRequestPlugin implements SchedulerPlugin {
  readonly name = LEAST_REQUEST;
  private readonly env: PluginEnv;
  readonly maxWaitingRequests: number;

  constructor(options: z.output<typeof args>, env: PluginEnv) {
    this.env = env;
    this.maxWaitingRequests = options.maxWaitingRequests;
  }

  filter(cycle: SchedulingCycle, pods: readonly PodEndpoint[], alive: Uint8Array): void {
    for (let i = 0; i < pods.length; i++) {
      if (alive[i] === 0) continue;
      const waiting = this.env.engines.metrics(pods[i].origin, cycle.now)?.waiting ?? NaN;
      if (waiting >= this.maxWaitingRequests) alive[i] = 0;
    }
  }

  score(cycle: SchedulingCycle, pods: readonly PodEndpoint[], alive: Uint8Array, out: Float64Array): void {
    let maxBase = 0;
    for (let i = 0; i < pods.length; i++) {
      if (alive[i] === 0) continue;
      const origin = pods[i].origin;
      const inFlight = this.env.podStates.peek(origin)?.inFlight ?? 0;
      const stats = this.env.engines.metrics(origin, cycle.now);
      const running = stats?.running ?? NaN;
      let queued = Number.isNaN(running) ? 0 : Math.max(inFlight - running, 0);
      const waiting = stats?.waiting ?? NaN;
      if (!Number.isNaN(waiting)) queued = Math.min(queued, waiting);
      const base = inFlight + 100 * queued;
      out[i] = base; // kept here until the maximum is known
      if (base > maxBase) maxBase = base;
    }
    for (let i = 0; i < pods.length; i++) {
      if (alive[i] === 0) continue;
      out[i] = maxBase > 0 ? ((maxBase - out[i]) / maxBase) * 100 : 100;
    }
  }
}

export const leastRequestPlugin = definePlugin({
  name: LEAST_REQUEST,
  filter: true,
  score: true,
  args,
  create: (options, env) => new LeastRequestPlugin(options, env),
});
