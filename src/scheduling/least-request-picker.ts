// Fewest requests in flight through this router first, random among ties; unhealthy pods last.
// When every pod is unhealthy they are all tried anyway (Envoy's "panic" behaviour): a back-off is a guess,
// a certain 503 is worse.
import type { PodStateTable } from '../pods/pod-state.ts';
import type { PodEndpoint } from '../snapshot/types.ts';
import type { PodPicker, ScheduleRequest } from './pod-picker.ts';

export class LeastRequestPicker implements PodPicker {
  private readonly states: PodStateTable;
  private readonly random: () => number;

  constructor(states: PodStateTable, random: () => number = Math.random) {
    this.states = states;
    this.random = random;
  }

  schedule(_request: ScheduleRequest, candidates: readonly PodEndpoint[]): readonly PodEndpoint[] {
    if (candidates.length <= 1) return candidates;
    const now = Date.now();
    const n = candidates.length;
    const order = candidates.slice();
    // Shuffle first so that the stable sort leaves ties in random order.
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      const tmp = order[i];
      order[i] = order[j]!;
      order[j] = tmp;
    }
    const ranks = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const state = this.states.peek(order[i].origin);
      const unhealthy = state !== undefined && !state.isHealthy(now);
      ranks[i] = (unhealthy ? 1e9 : 0) + (state?.inFlight ?? 0);
    }
    // Stable insertion sort on (ranks, order): pod lists are short and this allocates nothing more.
    for (let i = 1; i < n; i++) {
      const r = ranks[i];
      const pod = order[i];
      let j = i - 1;
      while (j >= 0 && ranks[j] > r) {
        ranks[j + 1] = ranks[j]!;
        order[j + 1] = order[j]!;
        j--;
      }
      ranks[j + 1] = r;
      order[j + 1] = pod;
    }
    return order;
  }
}
