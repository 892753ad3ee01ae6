// The KV cache of one simulated engine: a pool of fixed-size blocks with automatic prefix caching, as in vLLM.
//
// A full block is registered under a chained hash (the hash of block i covers blocks 0..i and the LoRA adapter),
// so a later prompt that starts with the same tokens can take those blocks instead of recomputing them. Blocks
// nobody references stay cached in a free list, least recently released first; allocating a block takes the
// front of that list and evicts whatever prefix it held.
import { createHash } from 'node:crypto';

export interface KvBlock {
  readonly id: number;
  /** Chain hash of the prefix this block completes, once it is full and registered; null otherwise. */
  hash: string | null;
  /** Sequences holding the block. */
  refs: number;
}

/** The hash of the empty prefix: different adapters (and the base model) never share KV. */
export function rootHash(adapter: string | null): string {
  return digest(`root\u0000${adapter ?? ''}`);
}

/** Hash of one full block given its parent's hash: the chain makes it cover every block before it too. */
export function chainHash(parent: string, tokens: readonly string[]): string {
  return digest(`${parent}\u0000${JSON.stringify(tokens)}`);
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

/** What a KV event publisher hears: blocks registered in and dropped from the prefix cache. */
export interface KvCacheListener {
  stored(hash: string, parent: string | null, tokens: readonly string[], adapter: string | null): void;
  removed(hashes: readonly string[]): void;
}

/** A full block's place in its chain: its parent's hash (null for the first block) and its tokens. */
export interface BlockOrigin {
  readonly parent: string | null;
  readonly tokens: readonly string[];
  readonly adapter: string | null;
}

export class KvCache {
  /** Hears every registration and eviction (the mock's KV event publisher); null when nobody listens. */
  listener: KvCacheListener | null = null;
  readonly numBlocks: number;
  readonly blockSize: number;
  /** Unreferenced blocks in eviction order (a Map keeps insertion order): the first one is evicted next. */
  readonly #free = new Map<number, KvBlock>();
  readonly #byHash = new Map<string, KvBlock>();

  constructor(numBlocks: number, blockSize: number) {
    if (!Number.isInteger(numBlocks) || numBlocks < 1) throw new RangeError(`numBlocks must be an integer >= 1, got ${numBlocks}`);
    if (!Number.isInteger(blockSize) || blockSize < 1) throw new RangeError(`blockSize must be an integer >= 1, got ${blockSize}`);
    this.numBlocks = numBlocks;
    this.blockSize = blockSize;
    for (let id = 0; id < numBlocks; id++) this.#free.set(id, { id, hash: null, refs: 0 });
  }

  /** Blocks no sequence holds (cached or empty): what allocation can use. */
  get freeBlocks(): number {
    return this.#free.size;
  }

  get usedBlocks(): number {
    return this.numBlocks - this.#free.size;
  }

  /** Blocks registered under a prefix hash, whether in use or free. */
  get cachedBlocks(): number {
    return this.#byHash.size;
  }

  /** Fraction of blocks held by sequences (cached but unreferenced blocks count as free, as in vLLM). */
  get usage(): number {
    return this.usedBlocks / this.numBlocks;
  }

  /** Blocks needed to hold `tokens` tokens. */
  blocksFor(tokens: number): number {
    return Math.ceil(tokens / this.blockSize);
  }

  /** The cached blocks of the longest run of leading block hashes; `hashAt(i)` gives the hash of block i. */
  match(hashAt: (index: number) => string, maxBlocks: number): KvBlock[] {
    const found: KvBlock[] = [];
    for (let index = 0; index < maxBlocks; index++) {
      const block = this.#byHash.get(hashAt(index));
      if (block === undefined) break;
      found.push(block);
    }
    return found;
  }

  /** How many of `blocks` are unreferenced, i.e. would leave the free list when taken. */
  countFree(blocks: readonly KvBlock[]): number {
    return blocks.filter((block) => block.refs === 0).length;
  }

  /** Takes a reference on cached blocks (a prefix hit); unreferenced ones leave the free list. */
  acquire(blocks: readonly KvBlock[]): void {
    for (const block of blocks) {
      if (block.refs++ === 0) this.#free.delete(block.id);
    }
  }

  /** `count` blocks from the front of the free list, evicting the prefixes they held; undefined when too few are free. */
  allocate(count: number): KvBlock[] | undefined {
    if (count > this.#free.size) return undefined;
    const taken: KvBlock[] = [];
    for (const block of this.#free.values()) {
      if (taken.length === count) break;
      taken.push(block);
    }
    const evicted: string[] = [];
    for (const block of taken) {
      this.#free.delete(block.id);
      if (block.hash !== null) {
        this.#byHash.delete(block.hash);
        evicted.push(block.hash);
      }
      block.hash = null;
      block.refs = 1;
    }
    if (evicted.length > 0) this.listener?.removed(evicted);
    return taken;
  }

  /**
   * Drops one reference on each block. Unreferenced blocks join the end of the free list, the last block of the
   * sequence first, so the tail of a prefix is evicted before its head (which other prompts are likelier to share).
   */
  release(blocks: readonly KvBlock[]): void {
    for (let index = blocks.length - 1; index >= 0; index--) {
      const block = blocks[index];
      if (block === undefined || block.refs <= 0) continue;
      if (--block.refs === 0) this.#free.set(block.id, block);
    }
  }

  /** Registers a full block under its chain hash. A hash already registered keeps its first block. */
  commit(block: KvBlock, hash: string, origin?: BlockOrigin): void {
    if (block.hash !== null || this.#byHash.has(hash)) return;
    block.hash = hash;
    this.#byHash.set(hash, block);
    if (origin !== undefined) this.listener?.stored(hash, origin.parent, origin.tokens, origin.adapter);
  }

  /** Forgets every cached prefix no sequence is using (vLLM's POST /reset_prefix_cache); returns how many. */
  resetPrefixCache(): number {
    const dropped: string[] = [];
    for (const block of this.#free.values()) {
      if (block.hash === null) continue;
      this.#byHash.delete(block.hash);
      dropped.push(block.hash);
      block.hash = null;
    }
    if (dropped.length > 0) this.listener?.removed(dropped);
    return dropped.length;
  }
}
