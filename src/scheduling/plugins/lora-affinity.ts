// lora-affinity (filter), after Kthena's plugins/lora_affinity.go: keep the pods whose /v1/models lists the model
// the pod will be asked for (the LoRA adapter, or spec.model for base-model requests; Kthena used the request's
// model name, which filters out every pod for a virtual model name). A preference, never a cause of failure: when
// no remaining pod is known to serve the model, every pod stays. For a base-model request a pod whose list is unknown
// (not scraped yet, or unreachable) stays too: every pod of a ModelServer serves its model, and removing it would
// drop it from the retry order, so a request whose known pod just died got 502 without trying the others. A LoRA
// request still prefers the pods known to hold its adapter.
import type { PodEndpoint } from '../../snapshot/types.ts';
import type { SchedulingCycle } from '../framework/cycle.ts';
import type { PluginEnv, SchedulerPlugin } from '../framework/types.ts';
import { NO_ARGS, definePlugin } from './plugin-definition.ts';

export const LORA_AFFINITY = 'lora-affinity';

export class LoraAffinityPlugin implements SchedulerPlugin {
  readonly name = LORA_AFFINITY;
  private readonly env: PluginEnv;

  constructor(env: PluginEnv) {
    this.env = env;
  }

  filter(cycle: SchedulingCycle, pods: readonly PodEndpoint[], alive: Uint8Array): void {
    const model = cycle.request.upstreamModel;
    let anyServes = false;
    for (let i = 0; i < pods.length && !anyServes; i++) {
      if (alive[i] !== 0 && this.serves(pods[i], model, cycle.now)) anyServes = true;
    }
    if (!anyServes) return;
    const keepUnknown = !cycle.request.isLora;
    for (let i = 0; i < pods.length; i++) {
      if (alive[i] === 0) continue;
      const models = this.env.engines.models(pods[i].origin, cycle.now);
      if (models == null ? !keepUnknown : !models.has(model)) alive[i] = 0;
    }
  }

  private serves(pod: PodEndpoint, model: string, now: number): boolean {
    return this.env.engines.models(pod.origin, now)?.has(model) ?? false;
  }
}

export const loraAffinityPlugin = definePlugin({ name: LORA_AFFINITY, filter: true, score: false, args: NO_ARGS, create: (_args, env) => new LoraAffinityPlugin(env) });
