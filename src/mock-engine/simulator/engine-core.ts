// The engine loop of one simulated vLLM/SGLang engine: a single scheduler stepping the whole batch, as in
// continuous batching. Each step is planned by the BatchScheduler, lasts as long as its work costs (see
// stepDurationMs), and at its end every sequence that completed its pending tokens emits one output token.
// Time comes from an injectable Clock, so unit tests run the loop on a virtual clock.
import { BatchScheduler, type StepPlan } from './batch-scheduler.ts';
import { realClock, type Clock } from './clock.ts';
import { KvCache, type KvCacheListener } from './kv-cache.ts';
import { LoraSlots } from './lora-slots.ts';
import { Sequence, type SequenceEvents, type SequenceSpec } from './sequence.ts';

export interface StepCosts {
  /** Per prompt token computed (not found in the prefix cache). */
  prefillMsPerToken: number;
  /** Per request, in the step where its prefill starts (the mock's fixed ttftMs). */
  prefillMsPerRequest: number;
  /** Once per step that decodes anything. */
  decodeMsBase: number;
  /** Per sequence decoding in the step. */
  decodeMsPerSeq: number;
  /** Per adapter loaded into a LoRA slot in the step. */
  loraLoadMs: number;
}

export interface EngineCoreConfig extends StepCosts {
  maxNumSeqs: number;
  /** 0 = no limit (prompts are prefilled whole). */
  maxNumBatchedTokens: number;
  kvBlocks: number;
  blockSize: number;
  /** 0 = no limit. */
  maxLoras: number;
}

/** Hooks for metrics; all optional. */
export interface EngineObserver {
  /**
   * A sequence was admitted: its tokens looked up in the prefix cache, and on its first admission how long it
   * waited since arrival (undefined when it comes back after a preemption).
   */
  admitted?(queriedTokens: number, hitTokens: number, queuedMs: number | undefined): void;
  /** The same admission, with the sequence (benchmarks' prefix oracle). */
  admittedSequence?(seq: Sequence, queriedTokens: number, hitTokens: number): void;
  preempted?(count: number): void;
}

/**
 * A benchmark's view over several engines (one process): every engine joins with a probe telling how many of a
 * sequence's tokens its prefix cache holds now, and reports each admission.
 */
export interface PrefixOracle {
  join(probe: (seq: Sequence) => number): void;
  admitted(seq: Sequence, queriedTokens: number, hitTokens: number): void;
}

export interface SequenceHandle {
  /** Stops the sequence and frees its blocks; nothing more is emitted. Harmless once finished. */
  cancel(): void;
}

export interface EngineSnapshot {
  running: number;
  waiting: number;
  maxNumSeqs: number;
  blockSize: number;
  kvBlocks: number;
  kvBlocksUsed: number;
  kvBlocksCached: number;
  kvCacheUsage: number;
  /** Prompt tokens looked up in the prefix cache at admission, and how many of them were found there. */
  prefixCacheQueries: number;
  prefixCacheHits: number;
  preemptions: number;
  steps: number;
  loras: { maxLoras: number; resident: string[]; loads: number; running: string[]; waiting: string[] };
}

/** How long a step takes: decode (if any sequence decodes) + prefill tokens + prefill starts + adapter loads. */
export function stepDurationMs(costs: StepCosts, plan: StepPlan): number {
  let decoders = 0;
  let prefillTokens = 0;
  let prefillStarts = 0;
  for (const work of plan.batch) {
    if (work.decode) decoders++;
    else prefillTokens += work.tokens;
    if (work.first) prefillStarts++;
  }
  return (
    (decoders > 0 ? costs.decodeMsBase + costs.decodeMsPerSeq * decoders : 0) +
    costs.prefillMsPerToken * prefillTokens +
    costs.prefillMsPerRequest * prefillStarts +
    costs.loraLoadMs * plan.adapterLoads.length
  );
}

/** A step may start this much later than the previous one ended before the loop stops catching up with real time. */
const MAX_LAG_MS = 5;

export class EngineCore {
  readonly config: EngineCoreConfig;
  readonly #clock: Clock;
  readonly #observer: EngineObserver;
  readonly #kv: KvCache;
  readonly #lora: LoraSlots;
  readonly #scheduler: BatchScheduler;
  #nextId = 0;
  /** Planned end of the step in flight (or of the last one, while the loop keeps going); undefined when idle. */
  #stepEnd: number | undefined;
  #cancelTimer: (() => void) | undefined;
  #closed = false;
  #counters = { prefixCacheQueries: 0, prefixCacheHits: 0, preemptions: 0, steps: 0 };

  constructor(config: EngineCoreConfig, clock: Clock = realClock, observer: EngineObserver = {}) {
    if (!Number.isInteger(config.maxNumSeqs) || config.maxNumSeqs < 1) throw new RangeError(`maxNumSeqs must be an integer >= 1, got ${config.maxNumSeqs}`);
    this.config = config;
    this.#clock = clock;
    this.#observer = observer;
    this.#kv = new KvCache(config.kvBlocks, config.blockSize);
    this.#lora = new LoraSlots(config.maxLoras);
    this.#scheduler = new BatchScheduler(config, this.#kv, this.#lora);
  }

  /** The longest sequence (prompt + answer tokens) the KV cache can hold. */
  get maxModelLen(): number {
    return this.#kv.numBlocks * this.#kv.blockSize;
  }

  /** Queues a request; its tokens arrive through `events`. Throws a RangeError if it can never fit the KV cache. */
  submit(spec: SequenceSpec, events: SequenceEvents): SequenceHandle {
    if (this.#closed) throw new Error('the engine is closed');
    const total = Math.max(1, spec.prompt.length) + spec.output.length;
    if (total > this.maxModelLen) throw new RangeError(`a sequence of ${total} tokens exceeds the KV cache (${this.maxModelLen} tokens)`);
    const seq = new Sequence(this.#nextId++, spec, events, this.#kv.blockSize, this.#clock.now());
    this.#scheduler.enqueue(seq);
    if (this.#cancelTimer === undefined) this.#cancelTimer = this.#clock.schedule(0, () => this.#step());
    return {
      cancel: () => {
        if (seq.state !== 'waiting' && seq.state !== 'running') return;
        this.#scheduler.remove(seq);
        seq.state = 'cancelled';
      },
    };
  }

  /** An adapter was unloaded from the engine: it gives up its slot unless requests still run with it. */
  forgetAdapter(name: string): void {
    this.#lora.forget(name, this.#scheduler.isBusy);
  }

  /** Tokens of `seq` this engine's prefix cache holds now (whole blocks, as admission would reuse them). */
  cachedTokensFor(seq: Sequence): number {
    const cacheable = Math.floor((seq.numTokens - 1) / this.#kv.blockSize);
    return this.#kv.match((index) => seq.hashAt(index), cacheable).length * this.#kv.blockSize;
  }

  /** Hears the prefix cache's registrations and evictions (KV events). */
  setKvListener(listener: KvCacheListener | null): void {
    this.#kv.listener = listener;
  }

  /** Drops every cached prefix not in use; returns how many blocks were dropped. */
  resetPrefixCache(): number {
    return this.#kv.resetPrefixCache();
  }

  /** Stops the loop; queued and running sequences never finish (their requests are being cut anyway). */
  close(): void {
    this.#closed = true;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
  }

  snapshot(): EngineSnapshot {
    const adapters = (seqs: readonly Sequence[]) => [...new Set(seqs.flatMap((seq) => (seq.adapter === null ? [] : [seq.adapter])))];
    return {
      running: this.#scheduler.running.length,
      waiting: this.#scheduler.waiting.length,
      maxNumSeqs: this.config.maxNumSeqs,
      blockSize: this.#kv.blockSize,
      kvBlocks: this.#kv.numBlocks,
      kvBlocksUsed: this.#kv.usedBlocks,
      kvBlocksCached: this.#kv.cachedBlocks,
      kvCacheUsage: this.#kv.usage,
      ...this.#counters,
      loras: {
        maxLoras: this.#lora.maxLoras,
        resident: this.#lora.resident(),
        loads: this.#lora.loads,
        running: adapters(this.#scheduler.running),
        waiting: adapters(this.#scheduler.waiting),
      },
    };
  }

  #step(): void {
    this.#cancelTimer = undefined;
    if (this.#closed) return;
    const plan = this.#scheduler.schedule();
    const now = this.#clock.now();
    for (const { seq, queriedTokens, hitTokens, first } of plan.admitted) {
      this.#counters.prefixCacheQueries += queriedTokens;
      this.#counters.prefixCacheHits += hitTokens;
      this.#observer.admitted?.(queriedTokens, hitTokens, first ? now - seq.arrivedAt : undefined);
      this.#observer.admittedSequence?.(seq, queriedTokens, hitTokens);
    }
    if (plan.preempted.length > 0) {
      this.#counters.preemptions += plan.preempted.length;
      this.#observer.preempted?.(plan.preempted.length);
    }
    if (plan.batch.length === 0) {
      this.#stepEnd = undefined; // idle until the next submit
      return;
    }
    this.#counters.steps++;
    const start = this.#stepEnd === undefined ? now : Math.max(this.#stepEnd, now - MAX_LAG_MS);
    const end = start + stepDurationMs(this.config, plan);
    this.#stepEnd = end;
    this.#cancelTimer = this.#clock.schedule(end - now, () => {
      this.#complete(plan);
      this.#step();
    });
  }

  /** The step's work is done: advance every sequence; those with all their tokens computed emit the next one. */
  #complete(plan: StepPlan): void {
    for (const { seq, tokens } of plan.batch) {
      if (seq.state !== 'running') continue; // cancelled during the step
      seq.computed += tokens;
      if (seq.computed < seq.numTokens) continue; // a prefill chunk
      if (seq.generated < seq.outputLength) seq.events.onToken(seq.generated++);
      if (seq.generated >= seq.outputLength && seq.state === 'running') {
        this.#scheduler.remove(seq);
        seq.state = 'finished';
        seq.events.onFinish();
      }
    }
  }
}
