// Which pods have recently served which prompt prefixes (Kthena's plugins/cache/prefix_store.go): an index from
// block hash to pods, and per pod an LRU of its hashes with `capacity` entries; an evicted hash leaves the index.
// Hashes are chained and seeded by the model, so one hash stands for a whole prefix of one model.
import type { SchedulerObserver } from '../framework/observer.ts';

export class PrefixStore {
  private readonly capacity: number;
  /** hash → origins of the pods that hold it. */
  private readonly index = new Map<number, Set<string>>();
  /** origin → its hashes, least recently used first (Map keeps insertion order), each with the model it came from. */
  private readonly pods = new Map<string, Map<number, string>>();
  /** (hash, pod) entries over all pods. */
  private total = 0;

  constructor(capacityPerPod: number) {
    this.capacity = capacityPerPod;
  }

  /**
   * Records that `origin` served a prompt of `model` with these block hashes (all of them, newest last).
   * Entries evicted to make room are reported to `observer` under the model they came from.
   */
  add(origin: string, hashes: ArrayLike<number>, model = '', observer: SchedulerObserver | null = null): void {
    let lru = this.pods.get(origin);
    if (lru === undefined) {
      lru = new Map();
      this.pods.set(origin, lru);
    }
    for (let i = 0; i < hashes.length; i++) {
      const hash = hashes[i];
      if (lru.delete(hash)) {
        lru.set(hash, model);
        continue;
      }
      lru.set(hash, model);
      this.total++;
      let holders = this.index.get(hash);
      if (holders === undefined) {
        holders = new Set();
        this.index.set(hash, holders);
      }
      holders.add(origin);
    }
    while (lru.size > this.capacity) {
      const [oldest, oldModel] = lru.entries().next().value!;
      lru.delete(oldest);
      this.total--;
      this.unindex(oldest, origin);
      observer?.prefixCacheEviction(oldModel);
    }
  }

  /** The pods holding `hash`, or undefined. */
  holders(hash: number): ReadonlySet<string> | undefined {
    return this.index.get(hash);
  }

  /** Forget the pods not in `origins`. */
  retain(origins: ReadonlySet<string> | ReadonlyMap<string, unknown>): void {
    for (const [origin, lru] of this.pods) {
      if (origins.has(origin)) continue;
      for (const hash of lru.keys()) this.unindex(hash, origin);
      this.total -= lru.size;
      this.pods.delete(origin);
    }
  }

  /** Hashes held by one pod (for tests and debugging). */
  sizeOf(origin: string): number {
    return this.pods.get(origin)?.size ?? 0;
  }

  /** (hash, pod) entries over all pods: a block cached on N pods counts N times (Kthena's prefix_cache_entries). */
  get entries(): number {
    return this.total;
  }

  /** Distinct hashes in the index. */
  get size(): number {
    return this.index.size;
  }

  private unindex(hash: number, origin: string): void {
    const holders = this.index.get(hash);
    if (holders === undefined) return;
    holders.delete(origin);
    if (holders.size === 0) this.index.delete(hash);
  }
}
