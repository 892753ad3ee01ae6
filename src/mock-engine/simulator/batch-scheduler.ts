// The scheduling half of one engine step, after vLLM's v1 scheduler: which sequences run in the next forward
// pass, how many tokens each computes, and what they hold in the KV cache and the LoRA slots.
//
// Running sequences go first, in admission order: a decode computes 1 token, a prefill as many as the token budget
// (--max-num-batched-tokens; 0 = whole prompts) allows. A running sequence that needs a new block when none is
// free preempts the most recently admitted running sequence (recompute: its blocks are released and it goes back to
// the head of the queue). Then, if nothing was preempted, waiting sequences are admitted in FIFO order while the
// batch has room (--max-num-seqs), the budget lasts and their blocks fit; one that does not fit stops admission, one
// whose LoRA adapter has no slot is skipped for this step. Admission looks the prompt up in the prefix cache; at
// least the last prompt token is always computed, as vLLM needs its logits.
import type { KvCache } from './kv-cache.ts';
import type { LoraSlots } from './lora-slots.ts';
import type { Sequence } from './sequence.ts';

export interface SchedulerLimits {
  maxNumSeqs: number;
  /** Tokens per step; 0 = no limit (no chunked prefill). */
  maxNumBatchedTokens: number;
}

export interface ScheduledWork {
  seq: Sequence;
  /** Tokens computed for it in this step. */
  tokens: number;
  decode: boolean;
  /** The first step the sequence ever takes part in. */
  first: boolean;
}

export interface StepPlan {
  batch: ScheduledWork[];
  /** Adapters loaded into a slot for this step. */
  adapterLoads: string[];
  preempted: Sequence[];
  /** Admitted sequences (again after a preemption: `first` false) with the tokens found in the prefix cache. */
  admitted: { seq: Sequence; queriedTokens: number; hitTokens: number; first: boolean }[];
}

export class BatchScheduler {
  readonly waiting: Sequence[] = [];
  readonly running: Sequence[] = [];
  readonly #limits: SchedulerLimits;
  readonly #kv: KvCache;
  readonly #lora: LoraSlots;
  /** Running sequences per adapter: a busy adapter keeps its slot. */
  readonly #adapterUse = new Map<string, number>();
  readonly isBusy = (adapter: string): boolean => (this.#adapterUse.get(adapter) ?? 0) > 0;

  constructor(limits: SchedulerLimits, kv: KvCache, lora: LoraSlots) {
    this.#limits = limits;
    this.#kv = kv;
    this.#lora = lora;
  }

  enqueue(seq: Sequence): void {
    seq.state = 'waiting';
    this.waiting.push(seq);
  }

  /** Takes a sequence out (finished or cancelled), releasing its blocks. */
  remove(seq: Sequence): void {
    const waitingAt = this.waiting.indexOf(seq);
    if (waitingAt >= 0) this.waiting.splice(waitingAt, 1);
    const runningAt = this.running.indexOf(seq);
    if (runningAt >= 0) {
      this.running.splice(runningAt, 1);
      this.#stopRunning(seq);
    }
  }

  schedule(): StepPlan {
    const plan: StepPlan = { batch: [], adapterLoads: [], preempted: [], admitted: [] };
    let budget = this.#limits.maxNumBatchedTokens > 0 ? this.#limits.maxNumBatchedTokens : Number.POSITIVE_INFINITY;
    for (let index = 0; index < this.running.length && budget > 0; index++) {
      const seq = this.running[index];
      const tokens = Math.min(seq.numTokens - seq.computed, budget);
      while (!this.#grow(seq, seq.computed + tokens)) {
        const victim = this.running.pop() as Sequence;
        this.#preempt(victim);
        plan.preempted.push(victim);
        if (victim === seq) break;
      }
      if (seq.state !== 'running') break;
      budget -= tokens;
      plan.batch.push({ seq, tokens, decode: seq.decoding, first: !seq.started });
      seq.started = true;
    }
    if (plan.preempted.length === 0) this.#admit(plan, budget);
    return plan;
  }

  #admit(plan: StepPlan, initialBudget: number): void {
    let budget = initialBudget;
    const skipped: Sequence[] = [];
    while (this.waiting.length > 0 && this.running.length < this.#limits.maxNumSeqs && budget > 0) {
      const seq = this.waiting[0];
      if (seq.adapter !== null && !this.#lora.canAcquire(seq.adapter, this.isBusy)) {
        skipped.push(this.waiting.shift() as Sequence);
        continue;
      }
      const cacheable = Math.floor((seq.numTokens - 1) / this.#kv.blockSize);
      const hit = this.#kv.match((index) => seq.hashAt(index), cacheable);
      const hitTokens = hit.length * this.#kv.blockSize;
      const tokens = Math.min(seq.numTokens - hitTokens, budget);
      const needed = this.#kv.blocksFor(hitTokens + tokens) - hit.length;
      if (needed > this.#kv.freeBlocks - this.#kv.countFree(hit)) break;

      this.waiting.shift();
      this.#kv.acquire(hit);
      seq.blocks = [...hit];
      seq.committedBlocks = hit.length;
      seq.computed = hitTokens;
      seq.state = 'running';
      this.running.push(seq);
      if (!this.#grow(seq, hitTokens + tokens)) throw new Error('KV blocks vanished during admission');
      if (seq.adapter !== null) {
        if (this.#lora.acquire(seq.adapter, this.isBusy)) plan.adapterLoads.push(seq.adapter);
        this.#adapterUse.set(seq.adapter, (this.#adapterUse.get(seq.adapter) ?? 0) + 1);
      }
      plan.admitted.push({ seq, queriedTokens: seq.numTokens, hitTokens, first: !seq.started });
      plan.batch.push({ seq, tokens, decode: seq.decoding, first: !seq.started });
      seq.started = true;
      budget -= tokens;
    }
    this.waiting.unshift(...skipped);
  }

  /** Makes `seq` hold blocks for `total` tokens and registers its newly full blocks; false when blocks ran out. */
  #grow(seq: Sequence, total: number): boolean {
    const missing = this.#kv.blocksFor(total) - seq.blocks.length;
    if (missing > 0) {
      const blocks = this.#kv.allocate(missing);
      if (blocks === undefined) return false;
      seq.blocks.push(...blocks);
    }
    const full = Math.floor(total / this.#kv.blockSize);
    for (; seq.committedBlocks < full; seq.committedBlocks++) {
      const index = seq.committedBlocks;
      this.#kv.commit(seq.blocks[index], seq.hashAt(index), this.#kv.listener === null ? undefined : seq.blockOrigin(index));
    }
    return true;
  }

  #preempt(seq: Sequence): void {
    this.#stopRunning(seq);
    seq.computed = 0;
    seq.state = 'waiting';
    this.waiting.unshift(seq);
  }

  #stopRunning(seq: Sequence): void {
    this.#kv.release(seq.blocks);
    seq.blocks = [];
    seq.committedBlocks = 0;
    if (seq.adapter !== null) {
      const left = (this.#adapterUse.get(seq.adapter) ?? 1) - 1;
      if (left > 0) this.#adapterUse.set(seq.adapter, left);
      else this.#adapterUse.delete(seq.adapter);
    }
  }
}
