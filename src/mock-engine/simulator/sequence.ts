// One request inside the simulated engine: its tokens, how far the engine has computed them, and the KV blocks
// it holds. The whole answer is known up front (the mock decides it before generating), so blocks filled with
// generated tokens can be hashed and cached like prompt blocks.
import { chainHash, rootHash, type BlockOrigin, type KvBlock } from './kv-cache.ts';

export interface SequenceSpec {
  /** Prompt tokens (texts, as the mock's tokenizer cut them). An empty prompt is run as one token. */
  prompt: readonly string[];
  /** The answer's tokens; the sequence finishes once they are all emitted. May be empty (prefill only). */
  output: readonly string[];
  /** LoRA adapter, or null for the base model. */
  adapter: string | null;
}

export interface SequenceEvents {
  /** Output token `index` exists (emitted at the end of the step that produced it). */
  onToken(index: number): void;
  /** The last token was emitted; not called when the sequence is cancelled. */
  onFinish(): void;
}

export type SequenceState = 'waiting' | 'running' | 'finished' | 'cancelled';

const EMPTY_PROMPT = ['<s>'];

export class Sequence {
  readonly id: number;
  readonly adapter: string | null;
  readonly promptLength: number;
  readonly outputLength: number;
  readonly events: SequenceEvents;
  /** When it was submitted, on the engine clock. */
  readonly arrivedAt: number;
  readonly #tokens: readonly string[];
  readonly #hashes: string[] = [];
  readonly #blockSize: number;
  state: SequenceState = 'waiting';
  /** Tokens whose KV is computed (or was found in the prefix cache). */
  computed = 0;
  /** Output tokens emitted so far. */
  generated = 0;
  /** KV blocks held, in token order. */
  blocks: KvBlock[] = [];
  /** Leading blocks already registered in the prefix cache (or taken from it). */
  committedBlocks = 0;
  /** Set once the sequence was first scheduled; a preempted sequence stays started. */
  started = false;

  constructor(id: number, spec: SequenceSpec, events: SequenceEvents, blockSize: number, arrivedAt: number) {
    const prompt = spec.prompt.length > 0 ? spec.prompt : EMPTY_PROMPT;
    this.id = id;
    this.adapter = spec.adapter;
    this.promptLength = prompt.length;
    this.outputLength = spec.output.length;
    this.#tokens = [...prompt, ...spec.output];
    this.events = events;
    this.#blockSize = blockSize;
    this.arrivedAt = arrivedAt;
  }

  /** Tokens that exist now: the prompt plus what was generated. All of them need KV before the next token. */
  get numTokens(): number {
    return this.promptLength + this.generated;
  }

  /** A decode step computes just the newest token; anything more (prompt, recompute after preemption) is prefill. */
  get decoding(): boolean {
    return this.generated > 0 && this.numTokens - this.computed === 1;
  }

  /** Parent hash and tokens of full block `index` (for KV events). */
  blockOrigin(index: number): BlockOrigin {
    return {
      parent: index === 0 ? null : this.hashAt(index - 1),
      tokens: this.#tokens.slice(index * this.#blockSize, (index + 1) * this.#blockSize),
      adapter: this.adapter,
    };
  }

  /** Chain hash of full block `index` (which must lie within the tokens that exist). */
  hashAt(index: number): string {
    for (let next = this.#hashes.length; next <= index; next++) {
      const parent = next === 0 ? rootHash(this.adapter) : (this.#hashes[next - 1]);
      this.#hashes.push(chainHash(parent, this.#tokens.slice(next * this.#blockSize, (next + 1) * this.#blockSize)));
    }
    return this.#hashes[index];
  }
}
