// prefix-cache (score + post-schedule hook), after Kthena's plugins/prefix_cache.go. The prompt (ChatML for chat)
// is cut into blocks of blockSizeToHash characters, at most maxBlocksToMatch of them; block hashes are chained and
// seeded by the upstream model name, so hash k stands for the whole prefix up to block k. Walking the hashes from
// the end finds, for up to topKMatches pods, the longest prefix they served: score = matched/total·100, others 0.
// A successful request records its hashes for the pod that served it (per-pod LRU of maxHashCacheSize).
// Kthena counts bytes; this counts UTF-16 code units (the same for ASCII prompts).
import { z } from 'zod';
import type { PodEndpoint } from '../../snapshot/types.ts';
import type { SchedulingCycle } from '../framework/cycle.ts';
import { indexByOrigin } from '../framework/pod-index.ts';
import type { SchedulerPlugin } from '../framework/types.ts';
import { hash53 } from './hash.ts';
import { countArg, definePlugin } from './plugin-definition.ts';
import { PrefixStore } from './prefix-store.ts';

export const PREFIX_CACHE = 'prefix-cache';

const args = z.strictObject({
  blockSizeToHash: countArg(64, 1 << 20),
  maxBlocksToMatch: countArg(128, 1 << 16),
  maxHashCacheSize: countArg(50_000),
  topKMatches: countArg(5),
});

export type PrefixCacheArgs = z.output<typeof args>;

export class PrefixCachePlugin implements SchedulerPlugin {
  readonly name = PREFIX_CACHE;
  readonly cacheAffinity = true;
  readonly store: PrefixStore;
  private readonly blockSize: number;
  private readonly maxBlocks: number;
  private readonly topK: number;

  constructor(options: PrefixCacheArgs) {
    this.blockSize = options.blockSizeToHash;
    this.maxBlocks = options.maxBlocksToMatch;
    this.topK = options.topKMatches;
    this.store = new PrefixStore(options.maxHashCacheSize);
  }

  /** Chained block hashes of the prompt, seeded by the model. */
  hashPrompt(model: string, prompt: string): Float64Array {
    const count = Math.min(this.maxBlocks, Math.ceil(prompt.length / this.blockSize));
    const hashes = new Float64Array(count);
    let previous = hash53(model);
    for (let k = 0; k < count; k++) {
      const start = k * this.blockSize;
      previous = hash53(prompt, start, Math.min(start + this.blockSize, prompt.length), previous);
      hashes[k] = previous;
    }
    return hashes;
  }

  score(cycle: SchedulingCycle, pods: readonly PodEndpoint[], alive: Uint8Array, out: Float64Array): void {
    const prompt = cycle.prompt(this.blockSize * this.maxBlocks);
    if (prompt === '') return; // no opinion (Kthena's nil)
    const hashes = this.hashPrompt(cycle.request.upstreamModel, prompt);
    cycle.hashes = hashes;
    cycle.fullBlocks = Math.min(hashes.length, Math.floor(prompt.length / this.blockSize));
    for (let i = 0; i < pods.length; i++) if (alive[i] !== 0) out[i] = 0;
    const index = indexByOrigin(pods);
    let found = 0;
    let best = 0;
    for (let k = hashes.length - 1; k >= 0 && found < this.topK; k--) {
      const holders = this.store.holders(hashes[k]);
      if (holders === undefined) continue;
      for (const origin of holders) {
        const i = index.get(origin);
        if (i === undefined || alive[i] === 0 || out[i] > 0) continue;
        out[i] = ((k + 1) / hashes.length) * 100;
        if (best === 0) best = (k + 1) / hashes.length; // the walk goes from the longest prefix down
        if (++found >= this.topK) break;
      }
    }
    cycle.observer?.prefixCacheMatch(cycle.request.model, best);
  }

  /**
   * The prompt's full blocks are recorded when the request is sent, not once it completed (as Kthena does):
   * requests sharing the prefix that arrive while the first runs follow it instead of computing the prefix on
   * several pods. A partial last block is left to `served`: engines cache whole KV blocks only, so a prompt
   * shorter than a block (identical short requests in a burst) gains nothing from following and is balanced.
   */
  picked(cycle: SchedulingCycle, pod: PodEndpoint): void {
    const hashes = cycle.hashes;
    if (hashes === null) return;
    const full = cycle.fullBlocks;
    if (full > 0) this.store.add(pod.origin, full === hashes.length ? hashes : hashes.subarray(0, full), cycle.request.model, cycle.observer);
  }

  /** Kthena's post-schedule insert, for what `picked` did not record: all of it when a retry moved the request. */
  served(cycle: SchedulingCycle, pod: PodEndpoint): void {
    const hashes = cycle.hashes;
    if (hashes === null || hashes.length === 0) return;
    const recorded = cycle.picked === pod ? cycle.fullBlocks : 0;
    if (recorded < hashes.length) this.store.add(pod.origin, recorded === 0 ? hashes : hashes.subarray(recorded), cycle.request.model, cycle.observer);
  }

  retain(origins: ReadonlySet<string> | ReadonlyMap<string, unknown>): void {
    this.store.retain(origins);
  }
}

export const prefixCachePlugin = definePlugin({ name: PREFIX_CACHE, filter: false, score: true, args, create: (options) => new PrefixCachePlugin(options) });
