// The scheduler framework's contracts: filter and score plugins, the post-schedule hook, and what they may read.
// Plugins get the candidate pods plus caller-owned typed arrays: `alive[i]` is 1 while pod i is still a candidate,
// and a score plugin writes pod i's score (0-100) into `out[i]`. A score left as NaN means "no opinion" and counts
// as the neutral 50, so a plugin without data can never make a request fail.
import type { EngineStatsSource } from '../../engines/engine-state.ts';
import type { KthenaRedisClients } from '../../engines/kthena-redis/redis-index.ts';
import type { KvBlockSource } from '../../engines/kv-events/kv-event-table.ts';
import type { EngineTokenizer } from '../../tokenization/engine-tokenizer.ts';
import type { ScheduleRequest } from '../pod-picker.ts';
import type { PodStateTable } from '../../pods/pod-state.ts';
import type { PodEndpoint } from '../../snapshot/types.ts';
import type { SchedulingCycle } from './cycle.ts';
import type { SchedulerObserver } from './observer.ts';

export const NEUTRAL_SCORE = 50;
export const MAX_SCORE = 100;

/** Live state the plugins read; shared by every plugin instance. */
export interface PluginEnv {
  /** The router's own view: requests in flight per pod, passive and active health. */
  readonly podStates: PodStateTable;
  /** Scraped engine metrics and model lists. */
  readonly engines: EngineStatsSource;
  /** In [0, 1); injectable for tests. */
  readonly random: () => number;
  /** Metrics sink (plugin durations, prefix-cache); absent or null when metrics are off. */
  readonly observer?: SchedulerObserver | null;
  /** Every pod's KV blocks, from its engine's KV events (kvcache-aware); absent when not subscribed. */
  readonly kvBlocks?: KvBlockSource | null;
  /** Kthena's Redis KV block index (kvcache-aware's alternative source); absent: not read. */
  readonly kthenaRedis?: KthenaRedisClients | null;
  /** The engines' POST /tokenize (kvcache-aware); absent: no tokenization. */
  readonly engineTokenizer?: EngineTokenizer | null;
  /** Warnings about plugin state (a tokenizer that cannot be loaded); absent: dropped. */
  readonly log?: (message: string) => void;
}

export interface SchedulerPlugin {
  /** Kthena's plugin name, e.g. "least-request". */
  readonly name: string;
  /**
   * Its scores say which pods already hold the request's prompt in their KV cache (prefix-cache, kvcache-aware):
   * the load bound may then give the prompt to one more pod when every pod holding it is busy (SchedulerProfile).
   */
  readonly cacheAffinity?: boolean;
  /**
   * Asynchronous work before scheduling (tokenizing the prompt): awaited before schedule() when it returns a
   * promise; null when there is nothing to wait for. Never rejects.
   */
  prepare?(request: ScheduleRequest, candidates: readonly PodEndpoint[]): Promise<void> | null;
  /** Clears `alive[i]` for every pod it removes. Must not set an entry back to 1. */
  filter?(cycle: SchedulingCycle, pods: readonly PodEndpoint[], alive: Uint8Array): void;
  /** Writes a score in [0, 100] to `out[i]` for the alive pods it has an opinion on; `out` arrives filled with NaN. */
  score?(cycle: SchedulingCycle, pods: readonly PodEndpoint[], alive: Uint8Array, out: Float64Array): void;
  /** The request is about to be sent to `pod`, the first choice (not for explanations). */
  picked?(cycle: SchedulingCycle, pod: PodEndpoint): void;
  /** Post-schedule hook: the request was served successfully by `pod`. */
  served?(cycle: SchedulingCycle, pod: PodEndpoint): void;
  /** The set of configured pods changed: forget state about the others. */
  retain?(origins: ReadonlySet<string> | ReadonlyMap<string, unknown>): void;
  /** A reload replaced this instance: release what it holds (threads); requests it prepared may still score. */
  retire?(): void;
}

export interface WeightedScorePlugin {
  readonly plugin: SchedulerPlugin;
  readonly weight: number;
}

/**
 * Bounded load: a pod already holding more than `factor` times its fair share of the router's requests in flight
 * (over the candidates), plus `slack`, goes after the pods with room, whatever the scores say. And a prompt whose
 * cache is already on two healthy pods or more, each of them above its fair share and `slack` requests above the least
 * busy other pod, is given to that pod as if it held the cache too (one prefill there adds a copy of a hot prefix).
 */
export interface LoadBound {
  readonly factor: number;
  readonly slack: number;
}

/** Why a candidate is ranked after others regardless of its score (the rank's first key, best first). */
export const STANDING = { ok: 0, overLoadBound: 1, atConnectionLimit: 2, unhealthy: 3 } as const;

/** One compiled scheduler configuration; swapped as a whole when the router configuration file changes. */
export interface SchedulerProfile {
  /** Run in this order. */
  readonly filters: readonly SchedulerPlugin[];
  readonly scores: readonly WeightedScorePlugin[];
  /** Plugins with a post-schedule hook. */
  readonly hooks: readonly SchedulerPlugin[];
  /** Every distinct plugin instance of the profile. */
  readonly plugins: readonly SchedulerPlugin[];
  /** None when absent. */
  readonly loadBound?: LoadBound | null;
}
