// What the scheduler reports to metrics. Implemented by observability; null when metrics are off, and then no
// plugin call is timed at all.

export interface SchedulerObserver {
  /** One filter or score call of `plugin` for a request for `model` took `seconds`. */
  pluginDuration(model: string, plugin: string, type: 'filter' | 'score', seconds: number): void;
  /** prefix-cache: the best candidate held this fraction of the prompt's blocks (0 = miss). */
  prefixCacheMatch(model: string, ratio: number): void;
  /** prefix-cache: a (block, pod) entry of `model` was evicted because its pod's cache was full. */
  prefixCacheEviction(model: string): void;
  /** kvcache-aware: the best candidate held this fraction of the prompt's blocks. */
  kvCacheMatch?(model: string, ratio: number): void;
  /** kvcache-aware: tokenizing one prompt took `seconds` (`ok`: ids came back). */
  tokenizeDuration?(model: string, seconds: number, ok: boolean): void;
  /** kvcache-aware: one lookup in Kthena's Redis index took `seconds`. */
  kvCacheRedisDuration?(model: string, seconds: number): void;
  /** kvcache-aware: a request got no opinion because tokenizing or the Redis lookup failed. */
  kvCacheError?(model: string, stage: 'tokenize' | 'redis'): void;
}
