// The KV blocks one pod's engine holds, as its KV events describe them, keyed by the router's chained hash of each
// block's token ids (block-hash.ts). The engine's own hashes only link events together: a stored block's parent is
// named by engine hash, and a removal names engine hashes. Blocks whose parent the index never saw (events lost
// before it) cannot be placed in a chain and are counted as orphans. Blocks on media other than the GPU (CPU
// offload tiers) are not indexed: they are not where a prefill reuses KV from.
import { chainHash, rootHash } from './block-hash.ts';
import type { KvEvent } from './wire.ts';

export class PodBlockIndex {
  /** The engine's block size in tokens, from its events; 0 until one arrived. */
  blockSize = 0;
  /** Stored blocks that could not be placed (unknown parent) since the last clear. */
  orphans = 0;
  /** Engine hash → router hash. */
  readonly #byEngineHash = new Map<string, number>();
  /** Router hash → how many engine blocks hold it (normally one). */
  readonly #held = new Map<number, number>();

  /** Distinct blocks held. */
  get size(): number {
    return this.#held.size;
  }

  has(hash: number): boolean {
    return this.#held.has(hash);
  }

  /** How many of `hashes`, from the first, the pod holds without a break. */
  matchRun(hashes: Float64Array): number {
    let k = 0;
    while (k < hashes.length && this.#held.has(hashes[k])) k++;
    return k;
  }

  apply(event: KvEvent): void {
    if (event.kind === 'cleared') return this.clear();
    if (event.medium !== null && event.medium.toUpperCase() !== 'GPU') return;
    if (event.kind === 'removed') {
      for (const key of event.blockHashes) this.#remove(key);
      return;
    }
    const { blockHashes, tokenIds, blockSize } = event;
    this.blockSize = blockSize;
    let parent: number | undefined = event.parentBlockHash === null ? rootHash(event.lora) : this.#byEngineHash.get(event.parentBlockHash);
    for (let k = 0; k < blockHashes.length; k++) {
      const end = (k + 1) * blockSize;
      if (parent === undefined || end > tokenIds.length) {
        this.orphans += blockHashes.length - k;
        return;
      }
      const key = blockHashes[k];
      let hash = this.#byEngineHash.get(key);
      if (hash === undefined) {
        hash = chainHash(parent, tokenIds, k * blockSize, end);
        this.#byEngineHash.set(key, hash);
        this.#held.set(hash, (this.#held.get(hash) ?? 0) + 1);
      }
      parent = hash;
    }
  }

  clear(): void {
    this.#byEngineHash.clear();
    this.#held.clear();
    this.orphans = 0;
  }

  #remove(key: string): void {
    const hash = this.#byEngineHash.get(key);
    if (hash === undefined) return;
    this.#byEngineHash.delete(key);
    const count = this.#held.get(hash) ?? 0;
    if (count <= 1) this.#held.delete(hash);
    else this.#held.set(hash, count - 1);
  }
}
