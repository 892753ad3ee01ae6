// kvcache-aware's second index source: Kthena's Redis layout, which Kthena's runtime sidecar fills from vLLM's and
// SGLang's KV events. The prompt's token ids (tokenized as for the events source) are cut into Kthena's blocks
// (blockSizeToHash tokens, each hashed on its own), every block key is read with HGETALL in one pipelined round
// trip, and each candidate pod's run of owned blocks from block 0 is counted (engines/kthena-redis). Keys are read
// under the request's model name, as Kthena does (a LoRA request: its adapter's name), and for a base-model request
// whose ModelServer rewrites the name (spec.model), also under the served name, which a sidecar started with the
// engine's `--served-model-name` writes. Any failure leaves the pods of this source without an opinion.
import { kthenaBlockHashes, kthenaBlockKeys, kthenaOwner, matchOwners } from '../../engines/kthena-redis/block-keys.ts';
import type { KthenaRedisIndex } from '../../engines/kthena-redis/redis-index.ts';
import type { PodEndpoint } from '../../snapshot/types.ts';
import type { SchedulerObserver } from '../framework/observer.ts';
import type { ScheduleRequest } from '../pod-picker.ts';

/** Kthena's answer for one request: each candidate owner's matched blocks, out of `blocks`; or why there is none. */
export type RedisMatch =
  | { readonly ok: true; readonly blocks: number; readonly matched: ReadonlyMap<string, number> }
  | { readonly ok: false; readonly reason: string };

export interface RedisMatcherOptions {
  readonly blockSize: number;
  readonly maxBlocks: number;
  readonly timeoutMs: number;
}

export class KthenaRedisMatcher {
  readonly index: KthenaRedisIndex;
  readonly #options: RedisMatcherOptions;
  readonly #observer: SchedulerObserver | null;

  constructor(index: KthenaRedisIndex, options: RedisMatcherOptions, observer: SchedulerObserver | null) {
    this.index = index;
    this.#options = options;
    this.#observer = observer;
  }

  /** Looks the prompt's blocks up for the candidates that use this source; never rejects. */
  async match(request: ScheduleRequest, ids: readonly number[], candidates: readonly PodEndpoint[], uses: (pod: PodEndpoint) => boolean): Promise<RedisMatch> {
    const hashes = kthenaBlockHashes(ids, this.#options.blockSize, this.#options.maxBlocks);
    if (hashes.length === 0) return { ok: true, blocks: 0, matched: new Map() };
    const models = request.isLora || request.upstreamModel === request.model ? [request.model] : [request.model, request.upstreamModel];
    const owners = new Map<string, number>();
    for (const pod of candidates) if (uses(pod)) owners.set(kthenaOwner(pod.name, pod.namespace), pod.startedAt ?? 0);
    const started = performance.now();
    const result = await this.index.lookup(kthenaBlockKeys(hashes, models), this.#options.timeoutMs);
    if (!result.ok) {
      this.#observer?.kvCacheError?.(request.model, 'redis');
      return result;
    }
    this.#observer?.kvCacheRedisDuration?.(request.model, (performance.now() - started) / 1000);
    return { ok: true, blocks: hashes.length, matched: matchOwners(result.replies, models.length, owners) };
  }

  /** Scored now: false when Redis is not connected (counted as a failed lookup); its first connection is waited for. */
  usable(model: string): boolean {
    if (this.index.ready || this.index.connecting) return true;
    this.#observer?.kvCacheError?.(model, 'redis');
    return false;
  }
}
