// lora-residency (score; Switchyard's, not Kthena's): an engine keeps a few LoRA adapters in its GPU slots (vLLM's
// --max-loras) and loading another one stalls its batch. For a LoRA request this prefers the pods that hold the
// adapter now: their engines run or queue requests for it (vLLM's vllm:lora_requests_info, scraped), or it is among
// the last `slots` adapters this router sent requests for to the pod. Those score 100, the others 0; no
// opinion on base-model requests, nor when no pod is known to hold the adapter (a cold adapter goes where the other
// plugins send it).
import { z } from 'zod';
import type { PodEndpoint } from '../../snapshot/types.ts';
import type { SchedulingCycle } from '../framework/cycle.ts';
import type { PluginEnv, SchedulerPlugin } from '../framework/types.ts';
import { countArg, definePlugin } from './plugin-definition.ts';

export const LORA_RESIDENCY = 'lora-residency';

const args = z.strictObject({
  /** Adapters remembered per pod from served requests (vLLM's --max-loras default is 1; engines often use more). */
  slots: countArg(2, 64),
});

export type LoraResidencyArgs = z.output<typeof args>;

export class LoraResidencyPlugin implements SchedulerPlugin {
  readonly name = LORA_RESIDENCY;
  private readonly env: PluginEnv;
  private readonly slots: number;
  /** Per pod origin: the adapters its last served LoRA requests used, most recent first. */
  private readonly recent = new Map<string, string[]>();

  constructor(options: LoraResidencyArgs, env: PluginEnv) {
    this.env = env;
    this.slots = options.slots;
  }

  score(cycle: SchedulingCycle, pods: readonly PodEndpoint[], alive: Uint8Array, out: Float64Array): void {
    const request = cycle.request;
    if (!request.isLora) return;
    const adapter = request.upstreamModel;
    let anyHolds = false;
    for (let i = 0; i < pods.length; i++) {
      if (alive[i] === 0) continue;
      const holds = this.holds(pods[i].origin, adapter, cycle.now);
      out[i] = holds ? 100 : 0;
      if (holds) anyHolds = true;
    }
    if (!anyHolds) out.fill(NaN, 0, pods.length);
  }

  /** Sent there now: the engine loads the adapter for it (recorded before it is served, so the next ones follow). */
  picked(cycle: SchedulingCycle, pod: PodEndpoint): void {
    this.served(cycle, pod);
  }

  served(cycle: SchedulingCycle, pod: PodEndpoint): void {
    if (!cycle.request.isLora) return;
    const adapter = cycle.request.upstreamModel;
    let list = this.recent.get(pod.origin);
    if (list === undefined) this.recent.set(pod.origin, (list = []));
    const at = list.indexOf(adapter);
    if (at === 0) return;
    if (at > 0) list.splice(at, 1);
    list.unshift(adapter);
    if (list.length > this.slots) list.length = this.slots;
  }

  retain(origins: ReadonlySet<string> | ReadonlyMap<string, unknown>): void {
    for (const origin of this.recent.keys()) if (!origins.has(origin)) this.recent.delete(origin);
  }

  private holds(origin: string, adapter: string, now: number): boolean {
    if (this.recent.get(origin)?.includes(adapter) === true) return true;
    return this.env.engines.metrics(origin, now)?.loraAdapters?.has(adapter) === true;
  }
}

export const loraResidencyPlugin = definePlugin({
  name: LORA_RESIDENCY,
  filter: false,
  score: true,
  args,
  create: (options, env) => new LoraResidencyPlugin(options, env),
});
