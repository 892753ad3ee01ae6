// lora-residency (score; Switchyard's, not Kthena's): an engine keeps a few LoRA adapters in its GPU slots (vLLM's
// --max-loras) and loading another one stalls its batch; loading one into full slots evicts an adapter, and if that
// one is still in use it comes back with another load, and so on (thrashing). For a LoRA request this scores:
//   100  pods that hold the adapter now: their engines run or queue requests for it (vLLM's vllm:lora_requests_info,
//        scraped), or it is among the last `slots` adapters this router sent there;
//    50  pods with a slot free: fewer adapters in use there (scraped, or sent there within the last ACTIVE_MS) than
//        the engine's slots (lora_requests_info's max_lora, else `slots`);
//     0  pods whose slots are all taken by other adapters in use.
// No opinion on base-model requests. Without the middle level, the first request of a cold adapter went wherever
// the other plugins sent it, now and then to a pod already full of busy adapters, and three adapters then took
// turns in two slots for the rest of the run (bench/README.md, "lora-residency").
import { z } from 'zod';
import type { PodEndpoint } from '../../snapshot/types.ts';
import type { SchedulingCycle } from '../framework/cycle.ts';
import type { PluginEnv, SchedulerPlugin } from '../framework/types.ts';
import { countArg, definePlugin } from './plugin-definition.ts';

export const LORA_RESIDENCY = 'lora-residency';

const HOLDS = 100;
const FREE_SLOT = 50;
const FULL = 0;
/** An adapter sent to a pod this recently still counts as in use there (conversation turns come seconds apart). */
export const ACTIVE_MS = 10_000;

const args = z.strictObject({
  /**
   * Adapters remembered per pod from the requests sent there, and the slots assumed when the engine does not report
   * max_lora (vLLM's --max-loras default is 1; engines often use more).
   */
  slots: countArg(2, 64),
});

export type LoraResidencyArgs = z.output<typeof args>;

interface SentAdapter {
  readonly adapter: string;
  at: number;
}

export class LoraResidencyPlugin implements SchedulerPlugin {
  readonly name = LORA_RESIDENCY;
  private readonly env: PluginEnv;
  private readonly slots: number;
  /** Per pod origin: the adapters of the last LoRA requests sent there, most recent first. */
  private readonly recent = new Map<string, SentAdapter[]>();

  constructor(options: LoraResidencyArgs, env: PluginEnv) {
    this.env = env;
    this.slots = options.slots;
  }

  score(cycle: SchedulingCycle, pods: readonly PodEndpoint[], alive: Uint8Array, out: Float64Array): void {
    const request = cycle.request;
    if (!request.isLora) return;
    const adapter = request.upstreamModel;
    for (let i = 0; i < pods.length; i++) {
      if (alive[i] === 0) continue;
      out[i] = this.placement(pods[i].origin, adapter, cycle.now);
    }
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
    const at = list.findIndex((sent) => sent.adapter === adapter);
    if (at === 0) {
      list[0].at = cycle.now;
      return;
    }
    if (at > 0) list.splice(at, 1);
    list.unshift({ adapter, at: cycle.now });
    if (list.length > this.slots) list.length = this.slots;
  }

  retain(origins: ReadonlySet<string> | ReadonlyMap<string, unknown>): void {
    for (const origin of this.recent.keys()) if (!origins.has(origin)) this.recent.delete(origin);
  }

  private placement(origin: string, adapter: string, now: number): number {
    const sent = this.recent.get(origin);
    const stats = this.env.engines.metrics(origin, now);
    const running = stats?.loraAdapters ?? null;
    if (running?.has(adapter) === true || sent?.some((s) => s.adapter === adapter) === true) return HOLDS;
    const reported = stats?.loraSlots ?? NaN;
    const slots = Number.isNaN(reported) ? this.slots : reported;
    let inUse = running?.size ?? 0;
    if (sent !== undefined) {
      for (const s of sent) if (now - s.at < ACTIVE_MS && running?.has(s.adapter) !== true) inUse++;
    }
    return inUse < slots ? FREE_SLOT : FULL;
  }
}

export const loraResidencyPlugin = definePlugin({
  name: LORA_RESIDENCY,
  filter: false,
  score: true,
  args,
  create: (options, env) => new LoraResidencyPlugin(options, env),
});
