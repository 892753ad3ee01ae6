// Which pods have recently served which prompt prefixes (Kthena's plugins/cache/prefix_store.go): an index from
// block hash to pods, and per pod an LRU of its hashes with `capacity` entries; an evicted hash leaves the index.
// Hashes are chained and seeded by the model, so one hash stands for a whole prefix of one model.
// The per-pod LRU is a map to entries linked in recency order: a hash served again (every block of a repeated
// prompt, on every request) moves its entry to the end, a lookup and a few pointer writes, instead of a Map delete
// and insert per block.
import type { SchedulerObserver } from '../framework/observer.ts';

class LruEntry {
  readonly hash: number;
  /** The model of the prompt that last used this block. */
  model: string;
  older: LruEntry | null = null;
  newer: LruEntry | null = null;

  constructor(hash: number, model: string) {
    this.hash = hash;
    this.model = model;
  }
}

/** One pod's hashes, least recently used first. */
class PodLru {
  readonly entries = new Map<number, LruEntry>();
  oldest: LruEntry | null = null;
  newest: LruEntry | null = null;

  append(entry: LruEntry): void {
    entry.older = this.newest;
    entry.newer = null;
    if (this.newest === null) this.oldest = entry;
    else this.newest.newer = entry;
    this.newest = entry;
  }

  unlink(entry: LruEntry): void {
    if (entry.older === null) this.oldest = entry.newer;
    else entry.older.newer = entry.newer;
    if (entry.newer === null) this.newest = entry.older;
    else entry.newer.older = entry.older;
    entry.older = null;
    entry.newer = null;
  }
}

export class PrefixStore {
  private readonly capacity: number;
  /** hash → origins of the pods that hold it. */
  private readonly index = new Map<number, Set<string>>();
  /** origin → its hashes, each with the model it came from. */
  private readonly pods = new Map<string, PodLru>();
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
      lru = new PodLru();
      this.pods.set(origin, lru);
    }
    for (let i = 0; i < hashes.length; i++) {
      const hash = hashes[i];
      let entry = lru.entries.get(hash);
      if (entry !== undefined) {
        entry.model = model;
        if (entry !== lru.newest) {
          lru.unlink(entry);
          lru.append(entry);
        }
        continue;
      }
      entry = new LruEntry(hash, model);
      lru.entries.set(hash, entry);
      lru.append(entry);
      this.total++;
      let holders = this.index.get(hash);
      if (holders === undefined) {
        holders = new Set();
        this.index.set(hash, holders);
      }
      holders.add(origin);
    }
    while (lru.entries.size > this.capacity) {
      const oldest = lru.oldest!;
      lru.unlink(oldest);
      lru.entries.delete(oldest.hash);
      this.total--;
      this.unindex(oldest.hash, origin);
      observer?.prefixCacheEviction(oldest.model);
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
      for (const hash of lru.entries.keys()) this.unindex(hash, origin);
      this.total -= lru.entries.size;
      this.pods.delete(origin);
    }
  }

  /** Hashes held by one pod (for tests and debugging). */
  sizeOf(origin: string): number {
    return this.pods.get(origin)?.entries.size ?? 0;
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
